#include "gateway/route_overlap.h"

#include <cstddef>
#include <string>

namespace gust::gateway {
namespace {

// DESIGN: a template is a list of segments, each a literal, a parameter (one non-empty
// segment) or, last only, a greedy tail (one or more segments of any content). Two templates
// share a path iff, walking both from the left: where one has a greedy tail, the other still
// has at least one segment to give it (each remaining segment of a template matches something);
// otherwise both must end together, and at each step the two segments must accept a common
// segment (two literals: equal; a literal and a parameter: the literal is non-empty).
enum class Kind { Literal, Parameter, Greedy };

struct Segment {
  Kind kind;
  std::string_view text;  // the literal
};

std::vector<Segment> segmentsOf(std::string_view path) {
  std::vector<Segment> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return out;
  for (;;) {
    auto slash = path.find('/');
    std::string_view text = path.substr(0, slash);
    bool parameter = text.size() >= 2 && text.front() == '{' && text.back() == '}';
    Kind kind = !parameter ? Kind::Literal : text.ends_with("+}") ? Kind::Greedy : Kind::Parameter;
    out.push_back({kind, text});
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool segmentsMeet(const Segment& a, const Segment& b) {
  if (a.kind == Kind::Literal && b.kind == Kind::Literal) return a.text == b.text;
  if (a.kind == Kind::Literal) return !a.text.empty();
  if (b.kind == Kind::Literal) return !b.text.empty();
  return true;
}

bool pathsOverlap(const std::vector<Segment>& a, const std::vector<Segment>& b) {
  std::size_t i = 0;
  for (;; ++i) {
    bool a_greedy = i < a.size() && a[i].kind == Kind::Greedy;
    bool b_greedy = i < b.size() && b[i].kind == Kind::Greedy;
    if (a_greedy) return i < b.size();
    if (b_greedy) return i < a.size();
    if (i == a.size() || i == b.size()) return a.size() == b.size();
    if (!segmentsMeet(a[i], b[i])) return false;
  }
}

}  // namespace

bool routesOverlap(const RouteTemplate& a, const RouteTemplate& b) {
  bool methods_meet = a.method == b.method || a.method == "ANY" || b.method == "ANY";
  return methods_meet && pathsOverlap(segmentsOf(a.path), segmentsOf(b.path));
}

std::vector<RouteTemplate> projectRouteTemplates(std::string_view path) {
  std::string base(path);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string tail = base == "/" ? "/{proxy+}" : base + "/{proxy+}";
  return {{"ANY", base}, {"ANY", tail}};
}

}  // namespace gust::gateway
