#pragma once
// Assertions. GUST_CHECK is always on and aborts: for our own invariants only, never for what
// the environment or a peer can cause (those are Status values).

#include <cstdio>
#include <cstdlib>

#define GUST_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

#ifdef NDEBUG
#define GUST_DCHECK(cond) \
  do {                    \
  } while (0)
#else
#define GUST_DCHECK(cond) GUST_CHECK(cond)
#endif
