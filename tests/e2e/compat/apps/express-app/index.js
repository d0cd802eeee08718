// An Express app as Cloud Run's Node.js quickstart writes it: it listens on $PORT.
const express = require('express');
const app = express();
app.use(express.json());

app.get('/', (req, res) => {
  const name = process.env.NAME || 'World';
  res.send(`Hello ${name}!`);
});

app.post('/echo/:word', (req, res) => {
  res.set('X-Framework', 'express');
  res.status(202).json({word: req.params.word, body: req.body, query: req.query,
                        revision: process.env.K_REVISION});
});

app.get('/events', (req, res) => {
  res.json({ok: true});
});

app.post('/', (req, res) => {
  // Non-HTTP events (queued invocations, cron, Kafka) arrive as a POST / with the event as JSON.
  console.log('event from', req.body.eventSource || 'an invoke');
  res.json({handled: req.body});
});

const port = parseInt(process.env.PORT) || 8080;
app.listen(port, () => {
  console.log(`helloworld: listening on port ${port}`);
});
