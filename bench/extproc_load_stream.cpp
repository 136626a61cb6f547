#include "extproc_load_stream.h"

#include <algorithm>
#include <array>
#include <random>

#include <fmt/format.h>

namespace kgai::bench {

namespace {

using Clock = std::chrono::steady_clock;
using Mode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;

constexpr std::string_view kDestinationHeader = "x-gateway-destination-endpoint";
constexpr size_t kIdWidth = 12;

void add_header(pb::HttpHeaders* headers, std::string_view name, std::string_view value) {
  auto* h = headers->mutable_headers()->add_headers();
  h->set_key(std::string(name));
  h->set_raw_value(std::string(value));  // as Envoy sends values today
}

std::string filler(size_t bytes, uint64_t seed) {
  static constexpr std::array<std::string_view, 16> kWords = {
      "the",   "model", "serves", "tokens", "cache", "prefix", "route",  "queue",
      "batch", "kv",    "block",  "gpu",    "lora",  "stream", "prompt", "score"};
  std::mt19937_64 rng(seed);
  std::string out;
  out.reserve(bytes + 8);
  while (out.size() < bytes) {
    out += kWords[rng() % kWords.size()];
    out += ' ';
  }
  out.resize(bytes);
  return out;
}

}  // namespace

RequestTemplate make_request(const std::string& model, size_t body_bytes, size_t chunk_bytes,
                             bool distinct_prompts, uint64_t seed) {
  RequestTemplate t;
  const std::string head = fmt::format(R"({{"model":"{}","prompt":")", model);
  const std::string tail = R"(","max_tokens":16,"stream":true})";
  const size_t fixed = head.size() + tail.size() + kIdWidth + 1;
  const size_t prompt_bytes = body_bytes > fixed ? body_bytes - fixed : 0;
  std::string body = head + std::string(kIdWidth, '0') + ' ' + filler(prompt_bytes, seed) + tail;
  if (distinct_prompts) {
    t.id_offset = head.size();
    t.id_width = kIdWidth;
  }
  t.body_bytes = body.size();

  auto* h = t.headers.mutable_request_headers();
  add_header(h, ":authority", "gateway");
  add_header(h, ":path", "/v1/completions");
  add_header(h, ":method", "POST");
  add_header(h, ":scheme", "http");
  add_header(h, "content-type", "application/json");
  add_header(h, "content-length", std::to_string(body.size()));
  t.request_id_header = h->headers().headers_size();
  add_header(h, "x-request-id", "");  // each stream writes its own
  h->set_end_of_stream(body.empty());
  auto* config = t.headers.mutable_protocol_config();
  config->set_request_body_mode(Mode::FULL_DUPLEX_STREAMED);
  config->set_response_body_mode(Mode::FULL_DUPLEX_STREAMED);

  const size_t size = std::max<size_t>(1, chunk_bytes);
  for (size_t offset = 0; offset < body.size(); offset += size) {
    pb::ProcessingRequest chunk;
    chunk.mutable_request_body()->set_body(body.substr(offset, size));
    chunk.mutable_request_body()->set_end_of_stream(offset + size >= body.size());
    t.chunks.push_back(std::move(chunk));
  }
  return t;
}

LoadStream* LoadStream::start(Stub& stub, StreamSetup setup) {
  auto* s = new LoadStream(std::move(setup));
  s->context_.set_deadline(std::chrono::system_clock::now() + s->setup_.timeout);
  stub.async()->Process(&s->context_, s);
  // Holds keep the stream (and this object) alive for what happens outside the reactions: the
  // release of a held stream, the half-close after the think time.
  int holds = 0;
  if (s->setup_.hold_at != HoldAt::kNone) ++holds;
  if (s->setup_.think.count() > 0) ++holds;
  if (holds > 0) s->AddMultipleHolds(holds);
  s->release_hold_ = s->setup_.hold_at != HoldAt::kNone;
  s->think_hold_ = s->setup_.think.count() > 0;
  s->StartRead(&s->answer_);
  s->result_.times.start = Clock::now();
  s->StartCall();
  // Stamped as the message goes to gRPC: the answer may come before StartWrite returns.
  s->result_.times.headers_sent = Clock::now();
  s->StartWrite(&s->headers_);
  return s;
}

LoadStream::LoadStream(StreamSetup setup) : setup_(std::move(setup)) {
  const RequestTemplate& t = *setup_.request;
  headers_ = t.headers;
  auto* id =
      headers_.mutable_request_headers()->mutable_headers()->mutable_headers(t.request_id_header);
  id->set_raw_value(fmt::format("kgai-extproc-load-{}", setup_.id));
  if (!t.chunks.empty() && t.id_offset != std::string::npos) {
    first_chunk_ = t.chunks.front();
    std::string* body = first_chunk_.mutable_request_body()->mutable_body();
    const std::string digits = fmt::format("{:0{}}", setup_.id % 1'000'000'000'000ULL, t.id_width);
    body->replace(t.id_offset, t.id_width, digits);
  }
}

const pb::ProcessingRequest& LoadStream::message(size_t index) const {
  if (index == 0) return headers_;
  if (index == 1 && first_chunk_.has_request_body()) return first_chunk_;
  return setup_.request->chunks[index - 1];
}

size_t LoadStream::messages_to_send() const {
  const size_t chunks = setup_.request->chunks.size();
  if (setup_.hold_at == HoldAt::kPartialBody) return 1 + std::min(setup_.partial_chunks, chunks);
  return 1 + chunks;
}

void LoadStream::OnWriteDone(bool ok) {
  const pb::ProcessingRequest* next = nullptr;
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    if (!ok) {
      writes_failed_ = true;  // the stream is over; the read fails too and OnDone follows
      return;
    }
    ++written_;
    if (written_ < messages_to_send()) {
      next = &message(written_);
    } else if (setup_.hold_at == HoldAt::kPartialBody) {
      actions = held_locked();
    } else {
      actions = next_step_locked();
    }
  }
  if (next != nullptr) StartWrite(next);
  run(actions);
}

void LoadStream::OnReadDone(bool ok) {
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    if (!ok) {
      // The stream is over (its status is in, or it broke). Holds nobody will use go now.
      read_over_ = true;
      if (think_hold_ && !think_set_) {
        think_hold_ = false;
        actions.remove_holds++;
      }
      if (release_hold_ && !held_) {
        release_hold_ = false;
        actions.remove_holds++;
      }
    } else {
      switch (answer_.response_case()) {
        case pb::ProcessingResponse::kRequestHeaders:
          if (result_.times.decision != SteadyTime{}) {
            result_.error = "a second request_headers answer";
            break;
          }
          result_.times.decision = Clock::now();
          for (const auto& option :
               answer_.request_headers().response().header_mutation().set_headers()) {
            if (option.header().key() == kDestinationHeader) {
              result_.destination = option.header().raw_value().empty()
                                        ? option.header().value()
                                        : option.header().raw_value();
            }
          }
          break;
        case pb::ProcessingResponse::kRequestBody:
          if (answer_.request_body()
                  .response()
                  .body_mutation()
                  .streamed_response()
                  .end_of_stream()) {
            result_.times.request_done = Clock::now();
            request_done_ = true;
          }
          break;
        case pb::ProcessingResponse::kImmediateResponse:
          if (result_.times.decision == SteadyTime{}) result_.times.decision = Clock::now();
          result_.immediate_status = static_cast<int>(answer_.immediate_response().status().code());
          break;
        default:
          result_.error = fmt::format("an unexpected answer (ProcessingResponse case {})",
                                      static_cast<int>(answer_.response_case()));
          break;
      }
      answer_.Clear();
      actions = next_step_locked();
      actions.read = true;
    }
  }
  if (actions.read) StartRead(&answer_);
  run(actions);
}

LoadStream::Actions LoadStream::next_step_locked() {
  Actions actions;
  const bool written = written_ >= messages_to_send();
  if (!written || !request_done_ || half_closed_ || held_ || read_over_) return actions;
  if (setup_.hold_at == HoldAt::kDecided) return held_locked();
  if (setup_.think.count() > 0) {
    if (!think_set_) {
      think_set_ = true;
      actions.set_think_alarm = true;
    }
    return actions;
  }
  half_closed_ = true;
  actions.half_close = true;
  return actions;
}

LoadStream::Actions LoadStream::held_locked() {
  Actions actions;
  if (held_) return actions;
  held_ = true;
  result_.held = true;
  actions.notify_held = true;
  return actions;
}

void LoadStream::run(const Actions& actions) {
  if (actions.half_close) StartWritesDone();
  if (actions.set_think_alarm) {
    // grpc::Alarm takes system-clock deadlines.
    think_alarm_.Set(std::chrono::system_clock::now() + setup_.think, [this](bool) {
      // Envoy half-closes once the upstream response is through.
      {
        std::lock_guard lock(mutex_);
        half_closed_ = true;
        think_hold_ = false;
      }
      StartWritesDone();
      RemoveHold();
    });
  }
  if (actions.notify_held && setup_.on_held) setup_.on_held(*this);
  for (int i = 0; i < actions.remove_holds; ++i) RemoveHold();
}

void LoadStream::release() {
  bool cancel = false, half_close = false, remove = false;
  {
    std::lock_guard lock(mutex_);
    if (!release_hold_) return;
    release_hold_ = false;
    remove = true;
    if (held_ && !read_over_) {
      if (setup_.hold_at == HoldAt::kPartialBody) {
        cancel = true;  // the client went away mid-body: Envoy resets the stream
      } else if (!half_closed_) {
        half_closed_ = half_close = true;
      }
    }
  }
  if (cancel) context_.TryCancel();
  if (half_close) StartWritesDone();
  if (remove) RemoveHold();
}

void LoadStream::OnDone(const grpc::Status& status) {
  result_.times.done = Clock::now();
  result_.grpc_code = static_cast<int>(status.error_code());
  result_.grpc_message = status.error_message();
  // Gone before the callback runs: once the owner has counted every stream done, none of them
  // touches anything of its owner's any more.
  auto on_done = std::move(setup_.on_done);
  const StreamResult result = std::move(result_);
  delete this;
  if (on_done) on_done(result);
}

}  // namespace kgai::bench
