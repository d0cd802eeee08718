// Vercel's Node shape as an ES module: export default (req, res) => ...
export default function (req, res) {
  res.setHeader("x-shape", "vercel-esm");
  res.status(200).json({ shape: "vercel-esm", method: req.method, body: req.body ?? null });
}
