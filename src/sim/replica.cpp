#include "sim/replica.h"

#include <charconv>
#include <deque>
#include <map>
#include <random>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/log_histogram.h"
#include "common/prometheus.h"
#include "sim/frontend.h"
#include "sim/openai_api.h"
#include "sim/tokenizer.h"

namespace kgai::sim {

namespace {

http::Response json_response(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

http::Response error_response(int status, std::string_view message, std::string_view param = {}) {
  return json_response(status, error_body(status, message, param));
}

// Error messages in the words vLLM uses, for injected failures.
std::string_view injected_message(int status) {
  switch (status) {
    case 400:
      return "Injected failure: invalid request.";
    case 401:
      return "Injected failure: invalid API key.";
    case 404:
      return "Injected failure: model not found.";
    case 429:
      return "Injected failure: the server is overloaded; retry later.";
    case 500:
      return "Injected failure: internal server error.";
    case 503:
      return "Injected failure: the service is unavailable.";
    default:
      return "Injected failure.";
  }
}

}  // namespace

struct Replica::Impl final : OutputBlockHasher {
  // An in-flight request and where its tokens go.
  struct Active {
    std::shared_ptr<http::ResponseStream> stream;
    int lora = 0;  // its adapter's slot, held until the request ends
    std::string id_text;
    std::string model;
    int64_t created = 0;
    uint64_t token_seed = 0;
    bool chat = false;
    bool streaming = false;
    bool include_usage = false;
    bool in_engine = false;
    const char* finish_reason = nullptr;      // set just before its last token is delivered
    std::string text;                         // the output, for non-streamed responses
    std::optional<StreamChunkWriter> chunks;  // streamed responses only
    // What its generated blocks hash from (see extend()): the prompt's bytes after its last
    // full block, how many full blocks it has, and the salt its chain starts from.
    std::string prompt_tail;
    int prompt_blocks = 0;
    uint64_t salt = 0;
  };
  // A step's output on its way through the API server: written to the clients at `at`.
  struct OutBatch {
    double at = 0;
    std::vector<TokenEvent> tokens;
    std::vector<FinishedRequest> finished;
  };
  struct Admission {
    double at;  // simulated time the request leaves the API server for the engine
    NewRequest request;
  };

  Impl(EventLoop& loop_, const RealClock& clock_, const catalog::LatencyModel& latency_,
       ReplicaOptions options_)
      : loop(loop_),
        clock(clock_),
        latency(latency_),
        options(std::move(options_)),
        engine(options.engine, latency),
        metrics(options.served_model_name, options.engine.max_model_len, options.cache,
                options.engine.max_loras),
        frontend(FrontendCosts::from(latency.accelerator().efficiency)),
        step_timer(loop),
        admission_timer(loop),
        output_timer(loop),
        rng(options.seed) {
    engine.set_output_block_hasher(this);
    for (const auto& name : options.lora_modules) add_lora(name, name);
    if (!options.http.reject_response) {
      // Bodies and headers over the limits get vLLM's error shape too, not plain text.
      options.http.reject_response = [](int status, std::string_view reason) {
        return error_response(status, reason);
      };
    }
    metrics.set_extra([this](std::string& out) { append_own_metrics(out); });
  }

  EventLoop& loop;
  const RealClock& clock;
  const catalog::LatencyModel& latency;
  ReplicaOptions options;
  Engine engine;
  VllmMetrics metrics;
  Frontend frontend;
  std::unique_ptr<http::Server> server;
  Timer step_timer;
  Timer admission_timer;
  Timer output_timer;
  std::mt19937_64 rng;
  RequestId next_id = 1;
  std::unordered_map<RequestId, Active> active;
  std::deque<Admission> admissions;
  bool stepping = false;
  double step_end = 0;
  std::vector<TokenEvent> pending_tokens;
  std::vector<FinishedRequest> pending_finished;
  std::deque<OutBatch> outbox;          // in order of `at`
  std::vector<OutBatch> spare_batches;  // emptied batches, kept for their capacity
  std::string block_text;               // scratch for extend()
  stats::LogHistogram send_lag;
  uint64_t injected_failures = 0;
  std::string chunk;
  // LoRA adapters. A slot is an adapter id as the engine knows it (slot 0: the base model).
  // An unloaded adapter keeps its slot while requests run under it, then the slot is reused:
  // a client that loads and unloads forever holds memory for the adapters loaded now, not
  // for every name it ever sent.
  struct LoraSlot {
    std::string name;
    std::string path;
    uint64_t salt = 0;  // separates its prefix-cache blocks; unlike slots, never reused
    int users = 0;      // requests in flight under it
    bool loaded = false;
  };
  std::vector<LoraSlot> lora_slots{LoraSlot{}};
  std::vector<int> free_lora_slots;
  std::map<std::string, int, std::less<>> loras;  // loaded adapters: name -> slot
  uint64_t next_lora_salt = 1;

  int add_lora(const std::string& name, const std::string& path) {
    int id;
    if (free_lora_slots.empty()) {
      id = static_cast<int>(lora_slots.size());
      lora_slots.emplace_back();
    } else {
      id = free_lora_slots.back();
      free_lora_slots.pop_back();
    }
    lora_slots[static_cast<size_t>(id)] = LoraSlot{name, path, next_lora_salt++, 0, true};
    loras.emplace(name, id);
    return id;
  }

  void release_lora_slot_if_idle(int id) {
    LoraSlot& slot = lora_slots[static_cast<size_t>(id)];
    if (id == 0 || slot.loaded || slot.users > 0) return;
    slot = LoraSlot{};
    // The next adapter in this slot is not resident on the "GPU" just because this one was.
    engine.forget_lora(id);
    free_lora_slots.push_back(id);
  }

  // Every in-flight request leaves through here, so its adapter slot is released.
  void erase_active(std::unordered_map<RequestId, Active>::iterator it) {
    const int lora = it->second.lora;
    active.erase(it);
    if (lora) {
      --lora_slots[static_cast<size_t>(lora)].users;
      release_lora_slot_if_idle(lora);
    }
  }

  void handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
    const std::string_view path = request.path();
    const bool get = request.method == "GET" || request.method == "HEAD";
    const bool post = request.method == "POST";
    if (path == "/v1/completions" || path == "/v1/chat/completions") {
      if (!post) return stream->respond(error_response(405, "use POST"));
      return handle_completion(request, std::move(stream), path == "/v1/chat/completions");
    }
    if (path == "/health") {
      if (!get) return stream->respond(error_response(405, "use GET"));
      http::Response r;
      return stream->respond(std::move(r));
    }
    if (path == "/metrics") {
      if (!get) return stream->respond(error_response(405, "use GET"));
      http::Response r;
      r.headers.push_back({"Content-Type", "text/plain; version=0.0.4; charset=utf-8"});
      r.body = metrics.render(
          engine, [this](int id) { return lora_slots[static_cast<size_t>(id)].name; },
          unix_seconds());
      return stream->respond(std::move(r));
    }
    if (path == "/v1/models") {
      if (!get) return stream->respond(error_response(405, "use GET"));
      return stream->respond(json_response(200, models_body()));
    }
    if (path == "/v1/load_lora_adapter" || path == "/v1/unload_lora_adapter") {
      if (!post) return stream->respond(error_response(405, "use POST"));
      return stream->respond(handle_lora(request.body, path == "/v1/load_lora_adapter"));
    }
    if (path == "/kgai/stats") {
      if (!get) return stream->respond(error_response(405, "use GET"));
      return stream->respond(json_response(200, stats_body()));
    }
    stream->respond(error_response(404, fmt::format("no route for {}", path)));
  }

  // 0 when no failure is to be injected.
  int injected_status(const http::Request& request, std::string& error) {
    // Only where the operator asked for it: otherwise any client could make a replica look
    // broken to the gateway in front of it.
    if (std::string_view forced = request.header("x-kgai-fail");
        options.allow_failure_header && !forced.empty()) {
      int code = 0;
      auto [ptr, ec] = std::from_chars(forced.data(), forced.data() + forced.size(), code);
      if (ec != std::errc() || ptr != forced.data() + forced.size() || code < 400 || code > 599) {
        error = fmt::format("x-kgai-fail must be an HTTP error status (400-599), got '{}'", forced);
        return 400;
      }
      return code;
    }
    if (options.failure_rate > 0 &&
        std::uniform_real_distribution<double>(0, 1)(rng) < options.failure_rate) {
      static constexpr int kKinds[] = {429, 500, 503};
      return kKinds[std::uniform_int_distribution<int>(0, 2)(rng)];
    }
    return 0;
  }

  void handle_completion(const http::Request& request, std::shared_ptr<http::ResponseStream> stream,
                         bool chat) {
    const EngineConfig& ec = engine.config();
    const int max_len = ec.max_model_len;
    auto parsed = parse_completion_request(request.body, chat, max_len);
    if (!parsed) {
      return stream->respond(
          error_response(parsed.error().status, parsed.error().message, parsed.error().param));
    }
    std::string header_error;
    if (int status = injected_status(request, header_error)) {
      if (header_error.empty()) ++injected_failures;
      return stream->respond(error_response(status, header_error.empty()
                                                        ? injected_message(status)
                                                        : std::string_view(header_error)));
    }
    CompletionRequest& req = *parsed;
    int lora = 0;
    std::string model = req.model.empty() ? options.served_model_name : req.model;
    if (model != options.served_model_name) {
      auto it = loras.find(model);
      if (it == loras.end()) {
        return stream->respond(error_response(
            404, fmt::format("The model `{}` does not exist.", shortened(model)), "model"));
      }
      lora = it->second;
    }
    // The parser refused prompts of max_model_len tokens or more, so this work is bounded by
    // the model's context, not by the body.
    const uint64_t salt = lora_slots[static_cast<size_t>(lora)].salt;
    TokenizedPrompt prompt = tokenize(req.prompt, ec.block_size, salt);
    const int max_tokens = req.max_tokens.value_or(max_len - prompt.num_tokens);
    if (int64_t{prompt.num_tokens} + max_tokens > max_len) {
      return stream->respond(error_response(
          400, context_length_message(max_len, prompt.num_tokens, max_tokens), "max_tokens"));
    }
    if (engine.queue_full() ||
        (ec.max_waiting > 0 &&
         engine.num_waiting() + static_cast<int>(admissions.size()) >= ec.max_waiting)) {
      return stream->respond(error_response(
          429,
          fmt::format("The waiting queue is full ({} requests); retry later.", ec.max_waiting)));
    }

    const RequestId id = next_id++;
    NewRequest spec;
    spec.id = id;
    spec.prompt_tokens = prompt.num_tokens;
    spec.block_hashes = std::move(prompt.block_hashes);
    spec.max_tokens = max_tokens;
    spec.natural_length = req.ignore_eos ? (1 << 30) : options.natural_output.sample(rng);
    spec.lora = lora;
    const double now = clock.now();
    spec.arrival = now;

    Active a;
    a.stream = stream;
    a.lora = lora;
    ++lora_slots[static_cast<size_t>(lora)].users;
    a.id_text = fmt::format("{}-{:08x}{:016x}", chat ? "chatcmpl" : "cmpl", options.index, id);
    a.model = std::move(model);
    a.created = static_cast<int64_t>(unix_seconds());
    a.prompt_blocks = static_cast<int>(spec.block_hashes.size());
    a.prompt_tail = prompt_tail(req.prompt, static_cast<size_t>(ec.block_size) * kBytesPerToken);
    a.salt = salt;
    a.token_seed = options.seed * 1000003ULL + id;
    a.chat = chat;
    a.streaming = req.stream;
    a.include_usage = req.stream && req.include_usage;
    if (req.stream) a.chunks.emplace(ResponseHeader{a.id_text, a.model, a.created, a.chat});
    active.emplace(id, std::move(a));
    // Deferred: the stream may report the close from inside one of our own writes.
    stream->on_close([this, id] { loop.post([this, id] { abort(id); }); });
    if (req.stream) {
      stream->start(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}});
    }
    log::debug("replica {}: request {} ({}): {} prompt tokens, max_tokens {}{}{}", options.index,
               id, chat ? "chat" : "completion", spec.prompt_tokens, max_tokens,
               req.stream ? ", streamed" : "",
               lora ? ", adapter " + lora_slots[static_cast<size_t>(lora)].name : "");
    admissions.push_back({frontend.admit(now, spec.prompt_tokens), std::move(spec)});
    if (!admission_timer.armed()) arm_admission();
  }

  void arm_admission() {
    if (admissions.empty()) return;
    admission_timer.arm(clock.to_wall(admissions.front().at), [this] { admit(); });
  }

  // Requests leave the API server for the engine's waiting queue.
  void admit() {
    const double now = clock.now();
    while (!admissions.empty() && admissions.front().at <= now) {
      NewRequest spec = std::move(admissions.front().request);
      admissions.pop_front();
      auto it = active.find(spec.id);
      if (it == active.end()) continue;  // the client left while it was in the API server
      if (auto added = engine.add(std::move(spec)); !added) {
        fail_request(it, 429, added.error().message);
        continue;
      }
      it->second.in_engine = true;
    }
    arm_admission();
    if (!stepping && engine.has_work()) run_step(std::max(now, step_end));
  }

  void fail_request(std::unordered_map<RequestId, Active>::iterator it, int status,
                    std::string_view message) {
    Active& a = it->second;
    if (a.streaming) {
      // Headers went out already: report in-band as vLLM does, then end the stream.
      chunk = "data: ";
      chunk += error_body(status, message);
      chunk += "\n\n";
      chunk += kSseDone;
      a.stream->write(chunk);
      a.stream->finish();
    } else {
      a.stream->respond(error_response(status, message));
    }
    erase_active(it);
  }

  void abort(RequestId id) {
    auto it = active.find(id);
    if (it == active.end()) return;
    if (it->second.in_engine) {
      if (auto record = engine.abort(id, clock.now())) metrics.on_finished(*record);
    }
    erase_active(it);
  }

  void run_step(double start) {
    const StepOutput& out = engine.step(start);
    if (out.num_scheduled == 0) {
      stepping = false;
      return;
    }
    metrics.on_step(out);
    pending_tokens.assign(out.tokens.begin(), out.tokens.end());
    pending_finished.assign(out.finished.begin(), out.finished.end());
    stepping = true;
    step_end = out.end();
    step_timer.arm(clock.to_wall(step_end), [this] { deliver(); });
  }

  // The end of a step: the next one starts at once (the engine core does not wait for the API
  // server), and this one's tokens go to the API server, which writes them when it gets to
  // them (Frontend::deliver).
  void deliver() {
    OutBatch batch = take_spare_batch();
    batch.at = frontend.deliver(step_end, static_cast<int>(pending_tokens.size()));
    batch.tokens.swap(pending_tokens);
    batch.finished.swap(pending_finished);
    stepping = false;
    // Steps follow each other without a gap in simulated time, even when this thread runs
    // late: lateness shows up as send lag instead of silently slowing the model down.
    if (engine.has_work()) run_step(step_end);
    if (outbox.empty() && batch.at <= clock.now()) {
      write_batch(batch);
      spare_batches.push_back(std::move(batch));
      return;
    }
    outbox.push_back(std::move(batch));
    if (!output_timer.armed()) arm_output();
  }

  OutBatch take_spare_batch() {
    if (spare_batches.empty()) return {};
    OutBatch b = std::move(spare_batches.back());
    spare_batches.pop_back();
    b.tokens.clear();
    b.finished.clear();
    return b;
  }

  void arm_output() {
    if (outbox.empty()) return;
    output_timer.arm(clock.to_wall(outbox.front().at), [this] { flush_outbox(); });
  }

  void flush_outbox() {
    const double now = clock.now();
    while (!outbox.empty() && outbox.front().at <= now) {
      write_batch(outbox.front());
      spare_batches.push_back(std::move(outbox.front()));
      outbox.pop_front();
    }
    arm_output();
  }

  // Writes a step's tokens and finished requests to their clients.
  void write_batch(const OutBatch& batch) {
    for (const FinishedRequest& f : batch.finished) {
      if (auto it = active.find(f.id); it != active.end()) {
        it->second.finish_reason = finish_reason_name(f.reason);
      }
    }
    const SteadyTime target = clock.to_wall(batch.at);
    for (const TokenEvent& t : batch.tokens) {
      auto it = active.find(t.id);
      if (it == active.end()) continue;
      Active& a = it->second;
      const std::string_view text = output_token_text(a.token_seed, t.index);
      if (!a.streaming) {
        a.text += text;
        continue;
      }
      chunk.clear();
      a.chunks->append(chunk, text, a.finish_reason, t.index == 0);
      a.stream->write(chunk);
      send_lag.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - target).count());
    }
    for (const FinishedRequest& f : batch.finished) {
      // As vLLM's: the metrics take the engine core's timestamps, not the API server's.
      metrics.on_finished(f);
      log::debug(
          "replica {}: request {} finished ({}): {} tokens, {} cached, TTFT {:.1f} ms, "
          "E2E {:.1f} ms (simulated, engine)",
          options.index, f.id, finish_reason_name(f.reason), f.output_tokens, f.cached_tokens,
          (f.first_token - f.arrival) * 1e3, (f.finished - f.arrival) * 1e3);
      auto it = active.find(f.id);
      if (it == active.end()) continue;
      Active& a = it->second;
      const ResponseHeader header{a.id_text, a.model, a.created, a.chat};
      const Usage usage{f.prompt_tokens, f.output_tokens, f.cached_tokens};
      if (a.streaming) {
        chunk.clear();
        if (a.include_usage) append_usage_chunk(chunk, header, usage);
        chunk += kSseDone;
        a.stream->write(chunk);
        a.stream->finish();
      } else {
        a.stream->respond(
            json_response(200, completion_body(header, a.text, a.finish_reason, usage)));
      }
      erase_active(it);
    }
  }

  // The prompt's bytes after its last full block of `block_bytes`.
  static std::string prompt_tail(const PromptText& prompt, size_t block_bytes) {
    const size_t keep = prompt.size() % block_bytes;
    std::string tail;
    tail.reserve(keep);
    size_t at = 0;
    const size_t from = prompt.size() - keep;
    prompt.for_each_piece([&](std::string_view piece) {
      const size_t end = at + piece.size();
      if (end > from) {
        const size_t skip = from > at ? from - at : 0;
        tail.append(piece.substr(skip));
      }
      at = end;
    });
    return tail;
  }

  // OutputBlockHasher: a request's sequence is its prompt's text followed by its answer's
  // text (the 4-byte output tokens). A follow-up prompt that holds the prompt and the answer
  // as they were (the next turn of a chat, rendered through the same template) tokenizes into
  // the same 64-byte blocks, so a block is hashed from those bytes exactly as tokenize()
  // would, once all its bytes are computed: the prompt and every answer token but the last.
  void extend(const NewRequest& request, int computed_outputs,
              std::vector<uint64_t>& hashes) override {
    auto it = active.find(request.id);
    if (it == active.end()) return;
    const Active& a = it->second;
    const size_t block_bytes = static_cast<size_t>(engine.config().block_size) * kBytesPerToken;
    const std::string& tail = a.prompt_tail;
    const size_t available =
        tail.size() + static_cast<size_t>(std::max(0, computed_outputs)) * kBytesPerToken;
    for (size_t m = hashes.size() - static_cast<size_t>(a.prompt_blocks);
         (m + 1) * block_bytes <= available; ++m) {
      block_text.clear();
      for (size_t x = m * block_bytes; x < (m + 1) * block_bytes;) {
        if (x < tail.size()) {
          block_text += tail[x++];
          continue;
        }
        const size_t offset = x - tail.size();
        const std::string_view token =
            output_token_text(a.token_seed, static_cast<int>(offset / kBytesPerToken));
        const std::string_view part = token.substr(offset % kBytesPerToken);
        const size_t n = std::min(part.size(), (m + 1) * block_bytes - x);
        block_text.append(part.substr(0, n));
        x += n;
      }
      hashes.push_back(hash_block_text(block_text, hashes.empty() ? a.salt : hashes.back()));
    }
  }

  std::string models_body() const {
    nlohmann::json data = nlohmann::json::array();
    const auto created = static_cast<int64_t>(unix_seconds());
    data.push_back({{"id", options.served_model_name},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "vllm"},
                    {"root", options.model_path},
                    {"parent", nullptr},
                    {"max_model_len", options.engine.max_model_len}});
    for (const auto& [name, id] : loras) {
      data.push_back({{"id", name},
                      {"object", "model"},
                      {"created", created},
                      {"owned_by", "vllm"},
                      {"root", lora_slots[static_cast<size_t>(id)].path},
                      {"parent", options.served_model_name},
                      {"max_model_len", options.engine.max_model_len}});
    }
    return nlohmann::json{{"object", "list"}, {"data", data}}.dump();
  }

  http::Response handle_lora(std::string_view body, bool load) {
    auto parsed = parse_lora_request(body, load);
    if (!parsed) {
      return error_response(parsed.error().status, parsed.error().message, parsed.error().param);
    }
    const std::string& name = parsed->name;
    if (name == options.served_model_name) {
      return error_response(400, fmt::format("'{}' is the base model's name", name), "lora_name");
    }
    http::Response ok;
    ok.headers.push_back({"Content-Type", "text/plain"});
    if (load) {
      if (loras.contains(name)) {
        return error_response(
            400, fmt::format("The lora adapter '{}' has already been loaded.", name), "lora_name");
      }
      if (static_cast<int>(loras.size()) >= options.max_lora_adapters) {
        return error_response(
            400,
            fmt::format("Cannot load the lora adapter '{}': {} adapters are loaded, the most this "
                        "server holds (--max-lora-adapters). Unload one first.",
                        name, loras.size()),
            "lora_name");
      }
      add_lora(name, parsed->path.value_or(name));
      ok.body = fmt::format("Success: LoRA adapter '{}' added successfully.", name);
      return ok;
    }
    auto it = loras.find(name);
    if (it == loras.end()) {
      return error_response(404, fmt::format("The lora adapter '{}' cannot be found.", name),
                            "lora_name");
    }
    // Requests already running under it finish normally; its slot is freed after them.
    const int id = it->second;
    loras.erase(it);
    lora_slots[static_cast<size_t>(id)].loaded = false;
    release_lora_slot_if_idle(id);
    ok.body = fmt::format("Success: LoRA adapter '{}' removed successfully.", name);
    return ok;
  }

  nlohmann::json lag_json() const {
    nlohmann::json buckets = nlohmann::json::array();
    for (auto [bound, count] : send_lag.buckets()) buckets.push_back({bound, count});
    return {{"count", send_lag.count()},      {"mean", send_lag.mean()},
            {"p50", send_lag.percentile(50)}, {"p90", send_lag.percentile(90)},
            {"p99", send_lag.percentile(99)}, {"p99.9", send_lag.percentile(99.9)},
            {"max", send_lag.max()},          {"buckets", buckets}};
  }

  std::string stats_body() const {
    const EngineCounters& c = engine.counters();
    nlohmann::json j = {{"replica", options.index},
                        {"simulated_seconds", clock.now()},
                        {"time_scale", clock.time_scale()},
                        {"token_send_lag_seconds", lag_json()},
                        {"injected_failures", injected_failures},
                        {"lora_slots", lora_slots.size()},
                        {"engine",
                         {{"steps", c.steps},
                          {"running", engine.num_running()},
                          {"waiting", engine.num_waiting()},
                          {"kv_cache_usage", engine.kv_usage()},
                          {"num_gpu_blocks", engine.kv_cache().num_blocks()},
                          {"preemptions", c.preemptions},
                          {"prefix_cache_queries", c.prefix_queries},
                          {"prefix_cache_hits", c.prefix_hits},
                          {"prompt_tokens", c.prompt_tokens},
                          {"generation_tokens", c.generation_tokens},
                          {"lora_loads", c.lora_loads}}}};
    return j.dump();
  }

  // kgai's own series, after vLLM's: how late tokens leave compared with their simulated time.
  void append_own_metrics(std::string& out) const {
    prom::TextWriter w;
    const std::string replica = std::to_string(options.index);
    w.family("kgai:sim_token_send_lag_seconds", prom::MetricType::kSummary,
             "Wall-clock delay between a token's simulated time and its write to the socket.");
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
      const std::string quantile = prom::format_value(q);
      w.sample("kgai:sim_token_send_lag_seconds", {{"quantile", quantile}, {"replica", replica}},
               send_lag.percentile(q * 100));
    }
    w.sample("kgai:sim_token_send_lag_seconds_sum", {{"replica", replica}}, send_lag.sum());
    w.sample("kgai:sim_token_send_lag_seconds_count", {{"replica", replica}},
             static_cast<double>(send_lag.count()));
    w.family("kgai:sim_injected_failures_total", prom::MetricType::kCounter,
             "Requests answered with an injected error (--failure-rate, or x-kgai-fail with "
             "--allow-failure-header).");
    w.sample("kgai:sim_injected_failures_total", {{"replica", replica}},
             static_cast<double>(injected_failures));
    out += w.text();
  }
};

Replica::Replica(EventLoop& loop, const RealClock& clock, const catalog::LatencyModel& latency,
                 ReplicaOptions options)
    : impl_(std::make_unique<Impl>(loop, clock, latency, std::move(options))) {}

Replica::~Replica() { stop(); }

Result<uint16_t> Replica::start() {
  Impl* impl = impl_.get();
  impl->server = std::make_unique<http::Server>(
      impl->loop, impl->options.http,
      [impl](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
        impl->handle(std::move(request), std::move(stream));
      });
  return impl->server->listen();
}

void Replica::stop() {
  if (impl_ && impl_->server) {
    impl_->server->stop();
    impl_->step_timer.cancel();
    impl_->admission_timer.cancel();
    impl_->output_timer.cancel();
  }
}

}  // namespace kgai::sim
