// Vercel's Node shape in CommonJS: module.exports = (req, res) => ...
module.exports = (req, res) => {
  res.status(201).json({ shape: "vercel-cjs", method: req.method, query: req.query,
                         header: req.headers["x-test-header"] || null });
};
