#include "softmoe/commands/sweep.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "softmoe/commands/synthetic.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/eval/seed_summary.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/csv.hpp"
#include "sweep_internal.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string describe(const SweepPoint& p) {
  std::string text;
  for (std::size_t i = 0; i < p.names.size(); ++i) text += fmt::format("{}{}={}", i ? " " : "", p.names[i], p.values[i]);
  return text;
}

// Writes DIR/sweep.json, or checks that the one there describes the same sweep.
void claim_directory(const fs::path& dir, const json::Value& identity, const std::string& shard) {
  std::error_code ec;
  fs::create_directories(dir / "points", ec);
  if (ec) throw UsageError(fmt::format("--out {}: cannot create: {}", dir.string(), ec.message()));
  json::Value record = identity;
  record["shard"] = shard;
  const fs::path path = dir / "sweep.json";
  if (fs::exists(path, ec)) {
    json::Value stored;
    try {
      stored = json::parse(read_text(path));
      if (stored.is_object()) stored.erase("softmoe_version");
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--out {}: unreadable sweep.json: {}", dir.string(), e.what()));
    }
    require(stored == record, fmt::format("--out {}: holds a different sweep (see its sweep.json); use another "
                                          "directory or the same command",
                                          dir.string()));
    return;
  }
  record["softmoe_version"] = SOFTMOE_VERSION;
  atomic_write(path, json::serialize(record, 2) + "\n");
}

// Starts `softmoe ... --point INDEX` with stdout discarded; the child dies with its parent.
pid_t start_worker(const SweepConfig& c, int index) {
  std::vector<std::string> args = c.invocation;
  args.push_back("--point");
  args.push_back(std::to_string(index));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw RunError("sweep: cannot start a worker process");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDOUT_FILENO);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  return pid;
}

// DIR/results.csv and its aggregate over seeds, DIR/summary.csv (eval/seed_summary.hpp).
void write_results(const fs::path& dir, const std::string& results) {
  atomic_write(dir / "results.csv", results);
  atomic_write(dir / "summary.csv", seed_summary_csv(read_csv((dir / "results.csv").string())));
}

}  // namespace

std::string concatenate_point_files(const std::vector<fs::path>& files) {
  std::string out, header;
  for (const auto& file : files) {
    const std::string text = read_text(file);
    const auto newline = text.find('\n');
    if (newline == std::string::npos) throw RunError(fmt::format("{}: empty point file", file.string()));
    const std::string this_header = text.substr(0, newline + 1);
    if (header.empty()) out = header = this_header;
    if (this_header != header) throw RunError(fmt::format("{}: columns differ from the other points", file.string()));
    out += text.substr(newline + 1);
  }
  return out;
}

void validate(const SweepConfig& c) {
  require(!c.experts.empty(), "--experts: give at least one number of experts");
  for (int n : c.experts) require(n >= 1, fmt::format("--experts: every value must be at least 1 (got {})", n));
  require(!c.seeds.empty(), "--seeds: give at least one seed");
  for (long long s : c.seeds) require(s >= 0, fmt::format("--seeds: seeds must be non-negative (got {})", s));
  for (double lr : c.lr) require(lr > 0, fmt::format("--lr: every value must be positive (got {})", lr));
  require(c.task == SweepTask::synthetic || c.model == ModelKind::vit || c.expert_params.empty(),
          "--expert-params: only for --task synthetic or --model vit");
  require(c.task != SweepTask::synthetic || c.expert_hidden.empty(), "--expert-hidden: not for --task synthetic");
  require(c.task != SweepTask::synthetic || c.specialize.empty(), "--specialize: not for --task synthetic");
  require(c.task != SweepTask::synthetic || (c.train_sizes.empty() && c.val_size == 0 && c.epoch_updates == 0 &&
                                             !c.eval_train),
          "--train-sizes/--val-size/--epoch-updates/--eval-train: not for --task synthetic");
  for (int n : c.train_sizes) require(n >= 1, fmt::format("--train-sizes: every value must be at least 1 (got {})", n));
  require(c.epoch_updates >= 0, fmt::format("--epoch-updates: must be 0 or positive (got {})", c.epoch_updates));
  require(c.epochs >= 0, fmt::format("--epochs: must be positive (got {})", c.epochs));
  require(c.threads >= 1 && c.threads <= 256, fmt::format("--threads: must be in 1..256 (got {})", c.threads));
  require(c.jobs >= 1 && c.jobs <= 256, fmt::format("--jobs: must be in 1..256 (got {})", c.jobs));
  require(!c.out.empty(), "--out: give the sweep directory");
  parse_shard(c.shard);
  const auto grid = expand_grid(c);
  require(grid.size() <= 100000, fmt::format("sweep: {} points is more than 100000", grid.size()));
  std::map<std::string, int> seen;
  for (const auto& p : grid) {
    require(seen[p.key]++ == 0, fmt::format("sweep: point {} appears twice; a list repeats a value", p.key));
    if (c.task == SweepTask::synthetic) validate(synthetic_point_config(c, p));
    else validate(train_point_config(c, p, fs::path(c.out) / "runs" / p.key));
  }
}

int run_sweep(const SweepConfig& c) {
  validate(c);
  const auto grid = expand_grid(c);
  const fs::path dir = c.out;
  if (c.point >= 0) {
    if (c.point >= static_cast<int>(grid.size())) throw UsageError("--point: outside the grid");
    run_sweep_point(c, grid[c.point], dir);
    return 0;
  }
  const auto [shard, shards] = parse_shard(c.shard);
  claim_directory(dir, sweep_identity(c, grid), c.shard);

  std::vector<const SweepPoint*> mine, pending;
  std::error_code ec;
  for (const auto& p : grid)
    if (p.index % shards == shard) {
      mine.push_back(&p);
      if (!fs::exists(sweep_point_file(dir, p), ec)) pending.push_back(&p);
    }
  if (!c.quiet)
    fmt::print(stderr, "sweep {}: {} points in shard {}, {} finished, {} to run with {} job(s) of {} thread(s)\n",
               dir.string(), mine.size(), c.shard, mine.size() - pending.size(), pending.size(), c.jobs, c.threads);

  std::map<pid_t, std::pair<const SweepPoint*, std::chrono::steady_clock::time_point>> running;
  std::size_t next = 0, done = 0;
  int failures = 0;
  while (next < pending.size() || !running.empty()) {
    while (next < pending.size() && static_cast<int>(running.size()) < c.jobs) {
      const SweepPoint* p = pending[next++];
      running[start_worker(c, p->index)] = {p, std::chrono::steady_clock::now()};
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const auto [p, start] = it->second;
    running.erase(it);
    ++done;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(sweep_point_file(dir, *p), ec);
    failures += !ok;
    if (!c.quiet || !ok)
      fmt::print(stderr, "[{}/{}] {}: {} ({:.1f} s)\n", done, pending.size(), describe(*p), ok ? "done" : "FAILED",
                 seconds);
  }
  if (failures > 0)
    throw RunError(fmt::format("sweep {}: {} of {} points failed (see above); finished points are kept, run the "
                               "same command again to retry the others",
                               dir.string(), failures, pending.size()));

  std::vector<fs::path> files;
  for (const auto* p : mine) files.push_back(sweep_point_file(dir, *p));
  write_results(dir, concatenate_point_files(files));
  if (!c.quiet) fmt::print(stderr, "wrote {} and {}\n", (dir / "results.csv").string(), (dir / "summary.csv").string());
  return 0;
}

int run_sweep_merge(const SweepMergeConfig& m) {
  require(!m.shards.empty(), "sweep merge: give the shard directories");
  json::Value identity;
  std::vector<std::string> owner;  // shard directory per shard index
  for (const auto& shard_dir : m.shards) {
    json::Value record;
    try {
      record = json::parse(read_text(fs::path(shard_dir) / "sweep.json"));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("sweep merge: {} is not a sweep directory: {}", shard_dir, e.what()));
    }
    int index = 0, count = 0;
    try {
      std::tie(index, count) = parse_shard(json::as_string(json::at(record, "shard")));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("sweep merge: {}: {}", (fs::path(shard_dir) / "sweep.json").string(), e.what()));
    }
    record.erase("shard");
    record.erase("softmoe_version");
    if (owner.empty()) {
      identity = record;
      owner.assign(static_cast<std::size_t>(count), "");
    }
    require(record == identity, fmt::format("sweep merge: {} belongs to a different sweep than {}", shard_dir,
                                            m.shards.front()));
    require(static_cast<int>(owner.size()) == count,
            fmt::format("sweep merge: {} is a shard of {}, {} of {}", shard_dir, count, m.shards.front(), owner.size()));
    require(owner[index].empty(), fmt::format("sweep merge: {} and {} are both shard {}/{}", owner[index], shard_dir,
                                              index, count));
    owner[index] = shard_dir;
  }
  for (std::size_t i = 0; i < owner.size(); ++i)
    require(!owner[i].empty(), fmt::format("sweep merge: shard {}/{} is missing", i, owner.size()));

  const fs::path out = m.out;
  std::error_code ec;
  claim_directory(out, identity, "0/1");
  const json::Value& keys = json::at(identity, "points");
  std::vector<fs::path> files;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    SweepPoint p;
    p.index = static_cast<int>(i);
    const fs::path source = sweep_point_file(owner[i % owner.size()], p);
    require(fs::exists(source, ec), fmt::format("sweep merge: {} has not finished point {} ({}); run that shard "
                                                "again", owner[i % owner.size()], json::as_string(keys[i]), source.string()));
    files.push_back(sweep_point_file(out, p));
    atomic_write(files.back(), read_text(source));
  }
  write_results(out, concatenate_point_files(files));
  fmt::print(stderr, "merged {} shards, {} points into {}\n", owner.size(), keys.size(), (out / "results.csv").string());
  return 0;
}

}  // namespace softmoe
