// DESIGN: extraction never trusts libarchive's header fields for sizes: file data is counted as
// it is read, so a header that lies about its size cannot get past the unpacked-bytes cap.
// Files are created with O_EXCL|O_NOFOLLOW under a fresh staging directory, and no entry may
// pass through a symlink the bundle itself created, so a symlink can never redirect a write.

#include "bundle/bundle.h"

#include <filesystem>
#include <memory>
#include <set>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ids.h"
#include "os/files.h"

namespace gust::bundle {
namespace fs = std::filesystem;
namespace {

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

// libarchive may have no message to give (NULL), and fmt must not be handed a NULL char*.
const char* archiveError(archive* a) {
  const char* message = archive_error_string(a);
  return message ? message : "unknown error";
}

Status badBundle(std::string_view path, std::string_view why) {
  return invalidArgument(fmt::format("bundle entry '{}': {}", path, why));
}

// Normalises "./a//b" to "a/b"; rejects absolute paths, "..", and odd bytes.
Result<std::string> cleanEntryPath(std::string_view raw) {
  if (raw.empty()) return badBundle(raw, "empty path");
  if (raw.front() == '/') return badBundle(raw, "absolute paths are not allowed");
  if (raw.size() > 1024) return badBundle(raw.substr(0, 64), "path longer than 1024 bytes");
  std::string clean;
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t end = raw.find('/', start);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view part = raw.substr(start, end - start);
    if (part == "..") return badBundle(raw, "'..' is not allowed in paths");
    if (!part.empty() && part != ".") {
      for (char c : part) {
        if (c == '\0' || c == '\\') return badBundle(raw, "NUL or backslash in path");
      }
      if (!clean.empty()) clean += '/';
      clean += part;
    }
    start = end + 1;
  }
  return clean;  // "" is the bundle root itself (an entry named "./")
}

// Whether a symlink at `link_path` with `target` resolves inside the bundle root.
bool symlinkStaysInside(const std::string& link_path, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  std::vector<std::string> parts;
  std::size_t slash = link_path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : link_path.substr(0, slash);
  for (auto piece : {std::string_view(dir), target}) {
    std::size_t start = 0;
    while (start <= piece.size()) {
      std::size_t end = piece.find('/', start);
      if (end == std::string_view::npos) end = piece.size();
      std::string_view part = piece.substr(start, end - start);
      if (part == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.emplace_back(part);
      }
      start = end + 1;
    }
  }
  return true;
}

Status writeEntryData(archive* a, const fs::path& file, const std::string& entry_path, mode_t mode,
                      int64_t& unpacked, const BundleLimits& limits) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return badBundle(entry_path, "appears twice in the bundle");
    int error_number = errno;
    return os::fileError(fmt::format("cannot create {}: {}", file.string(), strerror(error_number)),
                         error_number);
  }
  const void* block = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  Status status;
  for (;;) {
    int r = archive_read_data_block(a, &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      status = badBundle(entry_path, fmt::format("corrupt data: {}", archiveError(a)));
      break;
    }
    unpacked += static_cast<int64_t>(size);
    if (unpacked > limits.max_unpacked_bytes) {
      status = badBundle(entry_path, fmt::format("the bundle unpacks to more than {} MiB",
                                                 limits.max_unpacked_bytes >> 20));
      break;
    }
    if (::pwrite(fd, block, size, offset) != static_cast<ssize_t>(size)) {
      int error_number = errno;
      status = os::fileError(
          fmt::format("cannot write {}: {}", file.string(), strerror(error_number)), error_number);
      break;
    }
  }
  ::close(fd);
  return status;
}

Status extractInto(std::string_view bytes, const fs::path& root, const BundleLimits& limits) {
  std::unique_ptr<archive, ArchiveReadDeleter> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_none(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_support_format_zip(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    return invalidArgument(
        fmt::format("the bundle is not a tar.gz or zip archive: {}", archiveError(a.get())));
  }
  std::set<std::string> symlinks;
  int64_t files = 0;
  int64_t unpacked = 0;
  for (;;) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return invalidArgument(
          fmt::format("the bundle is not a valid archive: {}", archiveError(a.get())));
    }
    const char* raw = archive_entry_pathname(entry);
    auto clean = cleanEntryPath(raw ? raw : "");
    if (!clean) return clean.status();
    const std::string& path = *clean;
    if (++files > limits.max_files) {
      return badBundle(path, fmt::format("the bundle has more than {} files", limits.max_files));
    }
    if (path.empty()) continue;
    // No entry may reach through a symlink the bundle made: that is how zip-slip escapes.
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (symlinks.count(path.substr(0, slash))) {
        return badBundle(path, "its path goes through a symlink in the bundle");
      }
    }
    if (archive_entry_hardlink(entry) != nullptr) {
      return badBundle(path, "hard links are not allowed");
    }
    fs::path target = root / path;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return badBundle(path, fmt::format("cannot create its folder: {}", ec.message()));
    mode_t perm = (archive_entry_perm(entry) & 0111) ? 0755 : 0644;
    switch (archive_entry_filetype(entry)) {
      case AE_IFDIR:
        fs::create_directories(target, ec);
        if (ec) return badBundle(path, fmt::format("cannot create folder: {}", ec.message()));
        break;
      case AE_IFREG:
        GUST_RETURN_IF_ERROR(writeEntryData(a.get(), target, path, perm, unpacked, limits));
        break;
      case AE_IFLNK: {
        const char* link = archive_entry_symlink(entry);
        std::string_view link_target = link ? link : "";
        if (!symlinkStaysInside(path, link_target)) {
          return badBundle(path, fmt::format("symlink to '{}' leaves the bundle", link_target));
        }
        if (::symlink(std::string(link_target).c_str(), target.c_str()) != 0) {
          return badBundle(path, fmt::format("cannot create symlink: {}", strerror(errno)));
        }
        symlinks.insert(path);
        break;
      }
      default:
        return badBundle(path, "device files, FIFOs and sockets are not allowed");
    }
  }
  return Status::ok();
}

void addFile(archive* out, const fs::path& file, const std::string& name, const struct stat& st,
             std::string& error) {
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                      archive_entry_free);
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_perm(entry.get(), st.st_mode & 0777);
  archive_entry_set_mtime(entry.get(), st.st_mtime, 0);
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    fs::path link = fs::read_symlink(file, ec);
    archive_entry_set_filetype(entry.get(), AE_IFLNK);
    archive_entry_set_symlink(entry.get(), link.c_str());
    archive_write_header(out, entry.get());
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    archive_entry_set_filetype(entry.get(), AE_IFDIR);
    archive_write_header(out, entry.get());
    return;
  }
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_size(entry.get(), st.st_size);
  if (archive_write_header(out, entry.get()) != ARCHIVE_OK) {
    error = archiveError(out);
    return;
  }
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("cannot read {}: {}", file.string(), strerror(errno));
    return;
  }
  char buffer[64 * 1024];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
    archive_write_data(out, buffer, static_cast<size_t>(n));
  ::close(fd);
}

}  // namespace

Status extractBundle(std::string_view archive_bytes, const std::string& dest_dir,
                     const BundleLimits& limits) {
  fs::path dest(dest_dir);
  std::error_code ec;
  if (fs::exists(dest, ec)) return internalError(fmt::format("{} already exists", dest_dir));
  fs::create_directories(dest.parent_path(), ec);
  fs::path staging = dest.parent_path() / (".staging-" + randomHex(8));
  fs::create_directory(staging, ec);
  if (ec)
    return os::fileError(fmt::format("cannot create {}: {}", staging.string(), ec.message()),
                         ec.value());
  Status status = extractInto(archive_bytes, staging, limits);
  if (status.isOk()) {
    fs::rename(staging, dest, ec);
    if (ec)
      status =
          os::fileError(fmt::format("cannot move bundle into place: {}", ec.message()), ec.value());
  }
  if (!status.isOk()) fs::remove_all(staging, ec);
  return status;
}

Result<std::string> packDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return invalidArgument(fmt::format("{} is not a directory", dir));
  std::string out;
  std::unique_ptr<archive, ArchiveWriteDeleter> a(archive_write_new());
  archive_write_add_filter_gzip(a.get());
  // No timestamp in the gzip header: the same files pack to the same bytes (and sha256).
  archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);  // no padding to a 10 KiB tape block
  archive_write_open(
      a.get(), &out, nullptr,
      [](archive*, void* client, const void* buffer, size_t length) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
        return static_cast<la_ssize_t>(length);
      },
      nullptr);
  static const std::set<std::string> kSkipped = {".git", "node_modules", ".venv", "__pycache__",
                                                 ".gust"};
  std::string error;
  fs::path root(dir);
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (kSkipped.count(name)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) continue;
    addFile(a.get(), it->path(), it->path().lexically_relative(root).generic_string(), st, error);
    if (!error.empty()) return internalError(error);
  }
  if (ec) return internalError(fmt::format("cannot read {}: {}", dir, ec.message()));
  archive_write_close(a.get());
  return out;
}

std::string sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace gust::bundle
