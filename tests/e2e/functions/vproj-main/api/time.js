// A project entry in Vercel's Node shape.
module.exports = (req, res) => {
  res.status(200).json({ entry: "time", now: Date.now() });
};
