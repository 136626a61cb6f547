// The manifests generator. Objects are built as a small YAML tree and written by hand rather
// than through yaml-cpp's emitter: every value needs a comment above it, which the emitter
// places poorly, and the writer's quoting rule is simple enough to check by reading (strings
// that are not plainly safe are double-quoted with every control character escaped), so a
// model name holding ':', '#', quotes or a newline comes back unchanged.
#include "quickstart/manifests.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "common/text_file.h"
#include "common/utf8.h"

namespace kgai::quickstart {
namespace {

// ---------------------------------------------------------------------------------------------
// A YAML tree that keeps comments, and its block-style writer.

class Node {
 public:
  enum class Kind { kScalar, kMap, kSeq };

  static Node map() { return Node(Kind::kMap); }
  static Node seq() { return Node(Kind::kSeq); }
  static Node str(std::string_view text);
  static Node num(int64_t value) { return raw(fmt::format("{}", value)); }
  // fmt's shortest form reads back to the same double.
  static Node num(double value) { return raw(fmt::format("{}", value)); }
  static Node boolean(bool value) { return raw(value ? "true" : "false"); }

  // Adds `key: value` to a map (or an item to a sequence) with comment lines above it and
  // returns the added node, valid until the next set() or add() on this node.
  Node& set(std::string_view key, Node value, std::string_view comment = {});
  Node& add(Node value, std::string_view comment = {});

  void write(std::string& out, int indent, bool inline_first) const;

 private:
  explicit Node(Kind kind) : kind_(kind) {}
  static Node raw(std::string text) {
    Node n(Kind::kScalar);
    n.scalar_ = std::move(text);
    return n;
  }

  bool is_empty_collection() const { return kind_ != Kind::kScalar && children_.empty(); }
  void write_value_after_key(std::string& out, int indent) const;

  Kind kind_;
  std::string scalar_;  // rendered: plain or double-quoted
  // A map's or sequence's entries: key (empty in a sequence), comment lines above it, value.
  std::vector<std::string> keys_;
  std::vector<std::string> comments_;
  std::vector<Node> children_;
};

bool is_reserved_word(std::string_view text) {
  // YAML 1.1 booleans and nulls (kubectl's parser and yaml-cpp still read them so).
  static constexpr std::string_view kWords[] = {"y",     "yes", "n",   "no",   "true",
                                                "false", "on",  "off", "null", "~"};
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(std::begin(kWords), std::end(kWords), lower) != std::end(kWords);
}

// Plain when it starts with a letter or '/' and holds only [A-Za-z0-9._/-]: nothing a YAML
// reader could take for a number, a flag, a comment, a key or an indicator.
bool is_plain_safe(std::string_view text) {
  if (text.empty() || is_reserved_word(text)) return false;
  const unsigned char first = static_cast<unsigned char>(text.front());
  if (!std::isalpha(first) && first != '/') return false;
  return std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

std::string double_quoted(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += ch;  // UTF-8 passes through (checked valid before it gets here)
        }
    }
  }
  out += '"';
  return out;
}

Node Node::str(std::string_view text) {
  return raw(is_plain_safe(text) ? std::string(text) : double_quoted(text));
}

Node& Node::set(std::string_view key, Node value, std::string_view comment) {
  keys_.emplace_back(key);
  comments_.emplace_back(comment);
  children_.push_back(std::move(value));
  return children_.back();
}

Node& Node::add(Node value, std::string_view comment) { return set({}, std::move(value), comment); }

void write_comment(std::string& out, std::string_view comment, int indent) {
  if (comment.empty()) return;
  size_t start = 0;
  while (start <= comment.size()) {
    size_t end = comment.find('\n', start);
    if (end == std::string_view::npos) end = comment.size();
    std::string_view line = comment.substr(start, end - start);
    out.append(indent, ' ');
    out += line.empty() ? "#" : fmt::format("# {}", line);
    out += '\n';
    start = end + 1;
  }
}

std::string key_text(std::string_view key) {
  return is_plain_safe(key) ? std::string(key) : double_quoted(key);
}

void Node::write_value_after_key(std::string& out, int indent) const {
  if (kind_ == Kind::kScalar) {
    out += ' ';
    out += scalar_;
    out += '\n';
  } else if (is_empty_collection()) {
    out += kind_ == Kind::kMap ? " {}\n" : " []\n";
  } else {
    out += '\n';
    write(out, indent + 2, false);
  }
}

// A map or sequence at `indent`; with inline_first the first line continues a "- " already
// written (a map as a sequence item).
void Node::write(std::string& out, int indent, bool inline_first) const {
  for (size_t i = 0; i < children_.size(); ++i) {
    if (kind_ == Kind::kMap) {
      // The first key of a map that is a sequence item continues its "- " line; its comment
      // was written above that line.
      if (!(inline_first && i == 0)) {
        write_comment(out, comments_[i], indent);
        out.append(indent, ' ');
      }
      out += key_text(keys_[i]);
      out += ':';
      children_[i].write_value_after_key(out, indent);
      continue;
    }
    const Node& item = children_[i];
    const bool map_item = item.kind_ == Kind::kMap && !item.is_empty_collection();
    write_comment(out, comments_[i], indent);
    if (map_item) write_comment(out, item.comments_.front(), indent);
    out.append(indent, ' ');
    out += '-';
    if (map_item) {
      out += ' ';
      item.write(out, indent + 2, true);
    } else {
      item.write_value_after_key(out, indent);
    }
  }
}

// Every file starts with kManifestHeader (write_manifests recognises its own files by it).
std::string render(const Node& root, std::string_view header) {
  std::string out(kManifestHeader);
  out += '\n';
  write_comment(out, header, 0);
  root.write(out, 0, false);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Names and figures.

uint32_t fnv1a(std::string_view text) {
  uint32_t h = 2166136261u;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

bool is_dns_1035_label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!(name.front() >= 'a' && name.front() <= 'z') || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Kubernetes quantities: whole numbers plain, others in thousandths ("2500m").
std::string quantity(double value) {
  const auto milli = static_cast<int64_t>(std::llround(value * 1000));
  if (milli % 1000 == 0) return fmt::format("{}", milli / 1000);
  return fmt::format("{}m", milli);
}

std::string fmt_num(double value) {
  if (value >= 100) return fmt::format("{:.0f}", value);
  if (value >= 10) return fmt::format("{:.1f}", value);
  return fmt::format("{:.2f}", value);
}

enum class Vendor { kNvidia, kAmd, kTpu };

struct AcceleratorPlan {
  Vendor vendor = Vendor::kNvidia;
  std::string resource;  // the device plugin's extended resource
  std::vector<std::pair<std::string, std::string>> node_selector;
  std::string selector_comment;
  std::string default_image;
};

// Accelerator names GKE's node label cloud.google.com/gke-accelerator uses, among the catalog's.
constexpr std::string_view kGkeGpuNames[] = {
    "nvidia-h100-80gb", "nvidia-h100-mega-80gb", "nvidia-h200-141gb", "nvidia-a100-80gb",
    "nvidia-l4",        "nvidia-b200",           "nvidia-tesla-a100", "nvidia-tesla-t4"};

Result<std::string> tpu_topology(int chips) {
  // Single-host v5e / v6e slices (vLLM on TPU runs on one host).
  switch (chips) {
    case 1:
      return std::string("1x1");
    case 4:
      return std::string("2x2");
    case 8:
      return std::string("2x4");
    default:
      return fail("no single-host TPU topology holds {} chips (1, 4 or 8)", chips);
  }
}

Result<AcceleratorPlan> plan_accelerator(const Profile& p) {
  std::string name = p.accelerator;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  AcceleratorPlan plan;
  const bool on_gke = p.cloud.empty() || p.cloud == "gcp" || p.cloud == "catalog";
  if (name.starts_with("nvidia-")) {
    plan.vendor = Vendor::kNvidia;
    plan.resource = "nvidia.com/gpu";
    plan.default_image = std::string(kDefaultVllmImage);
    const bool gke_name =
        std::find(std::begin(kGkeGpuNames), std::end(kGkeGpuNames), name) != std::end(kGkeGpuNames);
    if (on_gke && gke_name) {
      plan.node_selector.emplace_back("cloud.google.com/gke-accelerator", name);
      plan.selector_comment =
          "GKE labels each GPU node with its accelerator; the pod lands only on nodes with this "
          "GPU.";
    } else {
      plan.selector_comment = fmt::format(
          "No node selector: GKE has no {} nodes{}. Select the nodes yourself, e.g. with GPU "
          "feature discovery's nvidia.com/gpu.product label.",
          name, on_gke ? "" : fmt::format(" and the setup was priced on {}", p.cloud));
    }
  } else if (name.starts_with("amd-")) {
    plan.vendor = Vendor::kAmd;
    plan.resource = "amd.com/gpu";
    plan.default_image = "rocm/vllm:latest";
    plan.selector_comment =
        "No node selector: AMD's device plugin advertises amd.com/gpu only on nodes that have "
        "them; add one if the cluster mixes GPU models.";
  } else if (name.starts_with("tpu-")) {
    plan.vendor = Vendor::kTpu;
    plan.resource = "google.com/tpu";
    plan.default_image = "vllm/vllm-tpu:latest";
    std::string gke_name;
    if (name == "tpu-v5e") gke_name = "tpu-v5-lite-podslice";
    if (name == "tpu-v6e") gke_name = "tpu-v6e-slice";
    if (gke_name.empty()) return fail("accelerator {}: no GKE TPU node label known", p.accelerator);
    auto topology = tpu_topology(p.accelerator_count);
    if (!topology) return fail("accelerator {}: {}", p.accelerator, topology.error().message);
    plan.node_selector.emplace_back("cloud.google.com/gke-tpu-accelerator", gke_name);
    plan.node_selector.emplace_back("cloud.google.com/gke-tpu-topology", *topology);
    plan.selector_comment = fmt::format(
        "A single-host {} slice of {} chips: GKE schedules TPU pods by these two labels.", gke_name,
        p.accelerator_count);
  } else {
    return fail(
        "accelerator {}: unknown vendor (names start with nvidia-, amd- or tpu-, as in the "
        "catalog)",
        p.accelerator);
  }
  return plan;
}

std::string percentile_name(const Profile& p) { return fmt::format("p{}", p.targets.percentile); }

// "at 12.3 req/s per replica the simulated p90 TTFT is 180 ms (target 200), NTPOT 40 ms"
std::string point_summary(const Profile& p) {
  const OperatingPoint& pt = p.point;
  const Targets& t = p.targets;
  auto with_target = [](double value, const std::optional<double>& target) {
    return target ? fmt::format("{} ms (target {})", fmt_num(value), fmt_num(*target))
                  : fmt::format("{} ms", fmt_num(value));
  };
  const std::string load =
      pt.concurrency > 0
          ? fmt::format("{} concurrent requests ({} req/s) per replica", pt.concurrency,
                        fmt_num(pt.requests_per_second))
          : fmt::format("{} req/s per replica",
                        fmt_num(pt.offered_rate > 0 ? pt.offered_rate : pt.requests_per_second));
  return fmt::format("at {}{} the simulated {} TTFT is {}, NTPOT {}, ITL {}", load,
                     p.at_saturation ? " (saturation)" : "", percentile_name(p),
                     with_target(pt.ttft_ms, t.ttft_ms), with_target(pt.ntpot_ms, t.ntpot_ms),
                     with_target(pt.itl_ms, t.itl_ms));
}

int effective_replicas(const Profile& p, const ManifestOptions& o) {
  if (o.replicas > 0) return o.replicas;
  if (p.replicas && *p.replicas > 0) return *p.replicas;
  return 1;
}

int max_replicas(int replicas) { return std::max(4 * replicas, replicas + 2); }

struct Context {
  const Profile& p;
  const ManifestOptions& o;
  std::string name;
  int replicas;
  AcceleratorPlan acc;
  std::string header;  // the comment block every file starts with
};

Node labels(const Context& c, bool selector_only) {
  Node m = Node::map();
  m.set("app.kubernetes.io/name", Node::str(c.name));
  if (selector_only) return m;
  m.set("app.kubernetes.io/component", Node::str("model-server"));
  m.set("app.kubernetes.io/part-of", Node::str("kgai-quickstart"));
  m.set("inference.networking.k8s.io/engine-type", Node::str("vllm"));
  return m;
}

Node metadata(const Context& c, std::string_view name, bool provenance) {
  Node m = Node::map();
  m.set("name", Node::str(name));
  m.set("namespace", Node::str(c.o.namespace_name));
  m.set("labels", labels(c, false));
  if (provenance) {
    Node& a = m.set("annotations", Node::map(),
                    "Provenance: when and from what these objects were generated.");
    a.set("quickstart.kgai.dev/generated",
          Node::str(fmt::format("{} by kgai {}", c.o.generated_on, c.o.kgai_version)));
    a.set("quickstart.kgai.dev/model", Node::str(c.p.model));
    a.set("quickstart.kgai.dev/accelerator",
          Node::str(fmt::format("{} x {}", c.p.accelerator_count, c.p.accelerator)));
    if (!c.p.instance_type.empty()) {
      a.set("quickstart.kgai.dev/instance-type", Node::str(c.p.instance_type));
    }
    a.set("quickstart.kgai.dev/operating-point", Node::str(point_summary(c.p)));
  }
  return m;
}

Node object(const Context& c, std::string_view api_version, std::string_view kind,
            std::string_view name, bool provenance = false) {
  Node root = Node::map();
  root.set("apiVersion", Node::str(api_version));
  root.set("kind", Node::str(kind));
  root.set("metadata", metadata(c, name, provenance));
  return root;
}

std::string claim_template_name(const Context& c) { return c.name + "-gpus"; }

void add_flag(Node& args, std::string_view flag, std::string value, std::string_view comment) {
  args.add(Node::str(flag), comment);
  args.add(Node::str(value));
}

Node vllm_args(const Context& c) {
  const ServerSettings& s = c.p.settings;
  const std::string at = point_summary(c.p);
  Node args = Node::seq();
  add_flag(args, "--model", c.p.model, "The catalog's model (a Hugging Face id).");
  add_flag(args, "--port", "8000", {});
  add_flag(args, "--tensor-parallel-size", fmt::format("{}", s.tensor_parallel_size),
           fmt::format("tensor-parallel-size {}: chosen by the kgai quickstart search (one vLLM "
                       "process over {} x {}).",
                       s.tensor_parallel_size, c.p.accelerator_count, c.p.accelerator));
  if (s.max_num_seqs > 0) {
    add_flag(args, "--max-num-seqs", fmt::format("{}", s.max_num_seqs),
             fmt::format("max-num-seqs {}: the most requests in one batch, chosen by the kgai "
                         "quickstart search;\n{}.",
                         s.max_num_seqs, at));
  }
  if (s.max_num_batched_tokens > 0) {
    add_flag(args, "--max-num-batched-tokens", fmt::format("{}", s.max_num_batched_tokens),
             fmt::format("max-num-batched-tokens {}: the token budget of one step (prefill "
                         "chunks + decodes), chosen by the search.",
                         s.max_num_batched_tokens));
  }
  if (s.max_model_len > 0) {
    add_flag(args, "--max-model-len", fmt::format("{}", s.max_model_len),
             fmt::format("max-model-len {}: holds the workload's longest request ({} input + {} "
                         "output tokens); shorter than the model's limit leaves more KV cache.",
                         s.max_model_len, c.p.workload.max_input_tokens,
                         c.p.workload.max_output_tokens));
  }
  add_flag(args, "--gpu-memory-utilization", fmt::format("{}", s.gpu_memory_utilization),
           fmt::format("gpu-memory-utilization {}: the share of accelerator memory vLLM takes "
                       "(weights, activations, KV cache), as simulated.",
                       s.gpu_memory_utilization));
  add_flag(args, "--block-size", fmt::format("{}", s.block_size),
           fmt::format("block-size {}: tokens per KV-cache block, as simulated.", s.block_size));
  args.add(
      Node::str(s.enable_prefix_caching ? "--enable-prefix-caching" : "--no-enable-prefix-caching"),
      "Automatic prefix caching, as simulated.");
  if (!s.enable_chunked_prefill) {
    args.add(Node::str("--no-enable-chunked-prefill"), "Chunked prefill off, as simulated.");
  }
  return args;
}

Node deployment(const Context& c) {
  Node root = object(c, "apps/v1", "Deployment", c.name, true);
  Node& spec = root.set("spec", Node::map());
  spec.set("replicas", Node::num(int64_t{c.replicas}),
           c.p.replicas
               ? fmt::format("replicas {}: what the search found the requested rate "
                             "needs at the operating point; the HPA adds more.",
                             c.replicas)
               : fmt::format("replicas {}: the HPA (hpa.yaml) adds more under load.", c.replicas));
  spec.set("selector", Node::map()).set("matchLabels", labels(c, true));
  Node& tmpl = spec.set("template", Node::map());
  Node& tmeta = tmpl.set("metadata", Node::map());
  tmeta.set("labels", labels(c, false),
            "The InferencePool and the Service select these pods by app.kubernetes.io/name.");
  Node& pod = tmpl.set("spec", Node::map());
  if (!c.acc.node_selector.empty()) {
    Node& sel = pod.set("nodeSelector", Node::map(), c.acc.selector_comment);
    for (const auto& [k, v] : c.acc.node_selector) sel.set(k, Node::str(v));
  }

  Node container = Node::map();
  container.set("name", Node::str("vllm"));
  container.set("image", Node::str(c.o.image.empty() ? c.acc.default_image : c.o.image));
  container.set("args", vllm_args(c));
  Node env = Node::seq();
  Node hf = Node::map();
  hf.set("name", Node::str("HF_TOKEN"));
  Node& ref = hf.set("valueFrom", Node::map()).set("secretKeyRef", Node::map());
  ref.set("name", Node::str(c.o.hf_token_secret));
  ref.set("key", Node::str("token"));
  ref.set("optional", Node::boolean(true));
  env.add(std::move(hf),
          fmt::format("A Hugging Face token for gated models: kubectl create secret generic {} "
                      "--from-literal=token=hf_...",
                      c.o.hf_token_secret));
  container.set("env", std::move(env));
  Node port = Node::map();
  port.set("name", Node::str("http"));
  port.set("containerPort", Node::num(int64_t{8000}));
  port.set("protocol", Node::str("TCP"));
  container.set("ports", Node::seq()).add(std::move(port));

  Node& resources = container.set("resources", Node::map());
  if (c.o.dra) {
    Node claim = Node::map();
    claim.set("name", Node::str("accelerators"));
    resources
        .set("claims", Node::seq(),
             fmt::format("{} accelerators through the DRA claim (resourceclaimtemplate.yaml).",
                         c.p.accelerator_count))
        .add(std::move(claim));
  } else {
    resources
        .set("limits", Node::map(),
             fmt::format("{} x {}: the accelerator count of the profile (tensor-parallel "
                         "size {}).",
                         c.p.accelerator_count, c.p.accelerator, c.p.settings.tensor_parallel_size))
        .set(c.acc.resource, Node::str(fmt::format("{}", c.p.accelerator_count)));
  }

  auto probe = [](int period, int failures) {
    Node pr = Node::map();
    Node& get = pr.set("httpGet", Node::map());
    get.set("path", Node::str("/health"));
    get.set("port", Node::str("http"));
    pr.set("periodSeconds", Node::num(int64_t{period}));
    pr.set("failureThreshold", Node::num(int64_t{failures}));
    return pr;
  };
  container.set("startupProbe", probe(10, 180),
                "Weights download and load before /health answers: up to 30 minutes (180 x 10 "
                "s), e.g. 140 GB at about 100 MB/s.");
  container.set("readinessProbe", probe(5, 3),
                "Out of the Service and the InferencePool while /health fails.");
  Node mount = Node::map();
  mount.set("name", Node::str("dshm"));
  mount.set("mountPath", Node::str("/dev/shm"));
  container.set("volumeMounts", Node::seq()).add(std::move(mount));

  pod.set("containers", Node::seq(),
          c.acc.node_selector.empty() ? c.acc.selector_comment : std::string())
      .add(std::move(container));
  if (c.o.dra) {
    Node claim = Node::map();
    claim.set("name", Node::str("accelerators"));
    claim.set("resourceClaimTemplateName", Node::str(claim_template_name(c)));
    pod.set("resourceClaims", Node::seq()).add(std::move(claim));
  }
  Node vol = Node::map();
  vol.set("name", Node::str("dshm"));
  vol.set("emptyDir", Node::map()).set("medium", Node::str("Memory"));
  pod.set("volumes", Node::seq())
      .add(std::move(vol),
           "Shared memory for the tensor-parallel workers (NCCL) and PyTorch's data loaders: the "
           "container default of 64 MB is too small.");
  return root;
}

Node resource_claim_template(const Context& c, std::string_view device_class) {
  Node root = object(c, "resource.k8s.io/v1", "ResourceClaimTemplate", claim_template_name(c));
  Node& devices =
      root.set("spec", Node::map()).set("spec", Node::map()).set("devices", Node::map());
  Node request = Node::map();
  request.set("name", Node::str("accelerators"));
  Node& exactly = request.set("exactly", Node::map());
  exactly.set("deviceClassName", Node::str(device_class),
              "The DRA driver's DeviceClass; `kgai dra` checks whether a claim fits a cluster.");
  exactly.set("allocationMode", Node::str("ExactCount"));
  exactly.set("count", Node::num(int64_t{c.p.accelerator_count}),
              fmt::format("{} x {}: the accelerator count of the profile.", c.p.accelerator_count,
                          c.p.accelerator));
  devices.set("requests", Node::seq()).add(std::move(request));
  return root;
}

Node service(const Context& c) {
  Node root = object(c, "v1", "Service", c.name);
  Node& spec = root.set("spec", Node::map());
  spec.set("type", Node::str("ClusterIP"));
  spec.set("selector", labels(c, true));
  Node port = Node::map();
  port.set("name", Node::str("http"));
  port.set("port", Node::num(int64_t{8000}));
  port.set("targetPort", Node::str("http"));
  port.set("protocol", Node::str("TCP"));
  spec.set("ports", Node::seq(),
           "The OpenAI API; perf-config.yaml sends to this Service, a gateway to the "
           "InferencePool.")
      .add(std::move(port));
  return root;
}

Node monitor(const Context& c) {
  const bool gmp = c.o.monitoring == "podmonitoring";
  Node root = gmp ? object(c, "monitoring.googleapis.com/v1", "PodMonitoring", c.name)
                  : object(c, "monitoring.coreos.com/v1", "ServiceMonitor", c.name);
  Node& spec = root.set("spec", Node::map());
  spec.set("selector", Node::map(),
           gmp ? "The vLLM pods." : "The Service (service.yaml), which carries the same labels.")
      .set("matchLabels", labels(c, true));
  Node ep = Node::map();
  ep.set("port", Node::str("http"));
  ep.set("path", Node::str("/metrics"));
  ep.set("interval", Node::str("15s"));
  spec.set("endpoints", Node::seq(),
           "vLLM's /metrics: vllm:num_requests_running and vllm:num_requests_waiting feed the "
           "HPA.")
      .add(std::move(ep));
  return root;
}

Node hpa(const Context& c) {
  const HpaTarget target = hpa_target(c.p);
  const std::string metric = hpa_metric_name(target.metric, c.o.monitoring);
  Node root = object(c, "autoscaling/v2", "HorizontalPodAutoscaler", c.name);
  Node& spec = root.set("spec", Node::map());
  Node& ref = spec.set("scaleTargetRef", Node::map());
  ref.set("apiVersion", Node::str("apps/v1"));
  ref.set("kind", Node::str("Deployment"));
  ref.set("name", Node::str(c.name));
  spec.set("minReplicas", Node::num(int64_t{c.replicas}),
           "Never below the replicas the search recommends.");
  spec.set("maxReplicas", Node::num(int64_t{max_replicas(c.replicas)}),
           "A cap of max(4 x minReplicas, minReplicas + 2): raise it to what your quota allows.");
  const bool gmp = c.o.monitoring == "podmonitoring";
  const std::string adapter_note =
      gmp ? fmt::format(
                "The custom-metrics API serves {} through Google Cloud's Custom Metrics "
                "Stackdriver Adapter\n(from the PodMonitoring's scrape), under the name "
                "below.",
                target.metric)
          : fmt::format(
                "The custom-metrics API serves {} through prometheus-adapter, under "
                "the name its rules give;\nthis rule serves vllm:* as vllm_* (no ':' in "
                "the name the HPA asks for):\n"
                "  - seriesQuery: '{}{{namespace!=\"\",pod!=\"\"}}'\n"
                "    resources: {{overrides: {{namespace: {{resource: namespace}}, pod: "
                "{{resource: pod}}}}}}\n"
                "    name: {{matches: \"^vllm:(.*)$\", as: \"vllm_${{1}}\"}}\n"
                "    metricsQuery: 'avg(<<.Series>>{{<<.LabelMatchers>>}}) by "
                "(<<.GroupBy>>)'",
                target.metric, target.metric);
  Node m = Node::map();
  m.set("type", Node::str("Pods"));
  Node& pods = m.set("pods", Node::map());
  pods.set("metric", Node::map()).set("name", Node::str(metric));
  Node& t = pods.set("target", Node::map());
  t.set("type", Node::str("AverageValue"));
  t.set("averageValue", Node::str(quantity(target.value)), target.why);
  spec.set("metrics", Node::seq(), adapter_note).add(std::move(m));
  return root;
}

Node inference_pool(const Context& c) {
  Node root = object(c, "inference.networking.k8s.io/v1", "InferencePool", c.name);
  Node& spec = root.set("spec", Node::map());
  spec.set("selector", Node::map(), "The vLLM pods of deployment.yaml.")
      .set("matchLabels", labels(c, true));
  Node port = Node::map();
  port.set("number", Node::num(int64_t{8000}));
  spec.set("targetPorts", Node::seq()).add(std::move(port));
  Node& epp = spec.set("endpointPickerRef", Node::map(),
                       "The endpoint picker (e.g. `kgai gateway --ext-proc-listen 0.0.0.0:9002` "
                       "behind a Service of this name;\nsee kgai's docs/gateway.md). It is not "
                       "generated here.");
  epp.set("kind", Node::str("Service"));
  epp.set("name", Node::str(c.o.endpoint_picker.empty() ? c.name + "-epp" : c.o.endpoint_picker));
  epp.set("port", Node::map()).set("number", Node::num(int64_t{9002}));
  epp.set("failureMode", Node::str("FailClose"));
  return root;
}

Node kustomization(const std::vector<ManifestFile>& files) {
  Node root = Node::map();
  root.set("apiVersion", Node::str("kustomize.config.k8s.io/v1beta1"));
  root.set("kind", Node::str("Kustomization"));
  Node& res = root.set("resources", Node::seq(),
                       "`kubectl apply -k .` applies these; perf-config.yaml is for `kgai perf`.");
  for (const ManifestFile& f : files) {
    if (!f.api_version.empty()) res.add(Node::str(f.file_name));
  }
  return root;
}

// A sim::LengthDistribution text ("128", "normal:M,S", "uniform:A,B", "exponential:M",
// "lognormal:M,SIGMA") as Inference Perf's synthetic distribution (a normal clipped to
// [min, max]) with the same mean and standard deviation.
struct PerfDistribution {
  int min = 1, max = 1;
  double mean = 1, std_dev = 0;
};

PerfDistribution perf_distribution(std::string_view text, double mean_tokens, int max_tokens) {
  PerfDistribution d;
  d.mean = std::max(1.0, mean_tokens);
  d.max = std::max(max_tokens, static_cast<int>(std::ceil(d.mean)));
  const size_t colon = text.find(':');
  const std::string kind(text.substr(0, colon == std::string_view::npos ? 0 : colon));
  std::vector<double> params;
  if (colon != std::string_view::npos) {
    std::string rest(text.substr(colon + 1));
    size_t start = 0;
    while (start <= rest.size()) {
      size_t end = rest.find(',', start);
      if (end == std::string::npos) end = rest.size();
      params.push_back(std::atof(rest.substr(start, end - start).c_str()));
      start = end + 1;
    }
  }
  if (colon == std::string_view::npos) {
    d.min = d.max = static_cast<int>(std::lround(d.mean));  // fixed length
    d.mean = d.min;
  } else if (kind == "normal" && params.size() == 2) {
    d.std_dev = params[1];
  } else if (kind == "uniform" && params.size() == 2) {
    d.min = std::max(1, static_cast<int>(params[0]));
    d.std_dev = (params[1] - params[0]) / std::sqrt(12.0);
  } else if (kind == "exponential") {
    d.std_dev = d.mean;
  } else if (kind == "lognormal" && params.size() == 2) {
    d.std_dev = d.mean * std::sqrt(std::exp(params[1] * params[1]) - 1);
  }
  d.min = std::min(d.min, static_cast<int>(std::floor(d.mean)));
  return d;
}

Node distribution_node(const PerfDistribution& d) {
  Node n = Node::map();
  n.set("min", Node::num(int64_t{d.min}));
  n.set("max", Node::num(int64_t{d.max}));
  n.set("mean", Node::num(d.mean));
  n.set("std_dev", Node::num(std::round(d.std_dev * 10) / 10));
  return n;
}

std::string perf_config(const Context& c, std::string_view base_url) {
  const Profile& p = c.p;
  const WorkloadShape& w = p.workload;
  Node root = Node::map();
  Node& api = root.set("api", Node::map());
  api.set("type", Node::str(c.o.api));
  api.set("streaming", Node::boolean(true), "Streaming: TTFT and ITL need it.");

  Node& data = root.set("data", Node::map());
  data.set("type", Node::str("synthetic"),
           fmt::format("The workload the profile was simulated with ({}): input {}, output {} "
                       "tokens,\nas normal distributions with the same mean and spread.",
                       w.name, w.input_length, w.output_length));
  data.set("input_distribution", distribution_node(perf_distribution(
                                     w.input_length, w.mean_input_tokens, w.max_input_tokens)));
  data.set("output_distribution", distribution_node(perf_distribution(
                                      w.output_length, w.mean_output_tokens, w.max_output_tokens)));

  Node& load = root.set("load", Node::map());
  Node stage = Node::map();
  const OperatingPoint& pt = p.point;
  if (pt.concurrency > 0) {
    load.set("type", Node::str("concurrent"),
             fmt::format("The profile was simulated closed-loop: {} clients per replica x {} "
                         "replicas.",
                         pt.concurrency, c.replicas));
    stage.set("concurrency_level", Node::num(int64_t{pt.concurrency} * c.replicas));
    stage.set("num_requests",
              Node::num(static_cast<int64_t>(std::max(
                  1.0, std::ceil(pt.requests_per_second * c.replicas * c.o.perf_duration_s)))));
  } else {
    const double per_replica = pt.offered_rate > 0 ? pt.offered_rate : pt.requests_per_second;
    load.set("type", Node::str("poisson"),
             fmt::format("Poisson arrivals at the recommended rate: {} req/s per replica x {} "
                         "replicas\n(the Service spreads them over the pods).",
                         fmt_num(per_replica), c.replicas));
    stage.set("rate", Node::num(per_replica * c.replicas));
    stage.set("duration", Node::num(c.o.perf_duration_s));
  }
  load.set("stages", Node::seq()).add(std::move(stage));

  Node& server = root.set("server", Node::map());
  server.set("type", Node::str("vllm"));
  server.set("model_name", Node::str(p.model));
  server.set("base_url", Node::str(base_url));
  server.set("ignore_eos", Node::boolean(true), "Output lengths as asked, as in the simulation.");

  if (p.targets.any_latency()) {
    Node& constraints =
        root.set("report", Node::map())
            .set("goodput", Node::map(),
                 fmt::format("The profile's targets (at {}); goodput counts the requests meeting "
                             "all of them.\nThe recommendation holds when the report's {} "
                             "latencies are at or below them.",
                             percentile_name(p), percentile_name(p)))
            .set("constraints", Node::map());
    auto seconds = [](double ms) { return Node::num(ms / 1000.0); };
    if (p.targets.ttft_ms) constraints.set("ttft", seconds(*p.targets.ttft_ms));
    if (p.targets.ntpot_ms) constraints.set("ntpot", seconds(*p.targets.ntpot_ms));
    if (p.targets.itl_ms) constraints.set("itl", seconds(*p.targets.itl_ms));
  }
  const std::string header = fmt::format(
      "{}\nAn Inference Perf config (`kgai perf --config perf-config.yaml`) that "
      "checks the recommendation on the cluster:\n{}.",
      c.header, point_summary(p));
  return render(root, header);
}

Result<Context> make_context(const Profile& p, const ManifestOptions& o) {
  if (!is_valid_utf8(p.model) || !is_valid_utf8(p.accelerator) || !is_valid_utf8(p.instance_type)) {
    return fail("the profile's model, accelerator or instance type is not valid UTF-8");
  }
  if (p.model.empty()) return fail("the profile has no model");
  if (p.accelerator_count < 1) {
    return fail("accelerator_count must be >= 1, got {}", p.accelerator_count);
  }
  const ServerSettings& s = p.settings;
  if (s.tensor_parallel_size < 1 || s.tensor_parallel_size > p.accelerator_count) {
    return fail("tensor_parallel_size must be in [1, accelerator_count {}], got {}",
                p.accelerator_count, s.tensor_parallel_size);
  }
  if (s.max_num_seqs < 0 || s.max_num_batched_tokens < 0 || s.max_model_len < 0 ||
      s.block_size < 1 || !(s.gpu_memory_utilization > 0 && s.gpu_memory_utilization <= 1)) {
    return fail("the profile's server settings are out of range");
  }
  const OperatingPoint& pt = p.point;
  for (double v : {pt.offered_rate, pt.requests_per_second, pt.ttft_ms, pt.ntpot_ms, pt.itl_ms,
                   pt.mean_running, pt.mean_waiting}) {
    if (!std::isfinite(v) || v < 0) return fail("the profile's operating point has a bad figure");
  }
  if (pt.concurrency <= 0 && pt.offered_rate <= 0 && pt.requests_per_second <= 0) {
    return fail("the profile's operating point has no rate");
  }
  if (o.monitoring != "servicemonitor" && o.monitoring != "podmonitoring") {
    return fail("monitoring must be servicemonitor or podmonitoring, got '{}'", o.monitoring);
  }
  if (o.api != "completion" && o.api != "chat") {
    return fail("api must be completion or chat, got '{}'", o.api);
  }
  if (!is_dns_1035_label(o.namespace_name)) {
    return fail("namespace '{}' is not a DNS-1123 label", o.namespace_name);
  }
  if (!std::isfinite(o.perf_duration_s) || o.perf_duration_s <= 0) {
    return fail("the perf duration must be > 0 seconds");
  }
  if (o.replicas < 0) return fail("replicas must be >= 0, got {}", o.replicas);
  for (const std::string* ref : {&o.hf_token_secret, &o.endpoint_picker}) {
    if (!ref->empty() && !is_dns_1035_label(*ref)) {
      return fail("'{}' is not a DNS-1123 label", *ref);
    }
  }
  auto name = manifest_name(p, o);
  if (!name) return fail(name.error());
  auto acc = plan_accelerator(p);
  if (!acc) return fail(acc.error());
  Context c{p, o, *name, effective_replicas(p, o), *acc, {}};
  c.header = fmt::format(
      "{}: {} x {}{}, vLLM, {} replica(s).\nFrom the kgai quickstart search on {} (kgai {}); "
      "workload {} (input {}, output {} tokens).",
      p.model, p.accelerator_count, p.accelerator,
      p.instance_type.empty() ? "" : fmt::format(" ({})", p.instance_type), c.replicas,
      o.generated_on, o.kgai_version, p.workload.name, p.workload.input_length,
      p.workload.output_length);
  return c;
}

std::string service_url(const Context& c) {
  return fmt::format("http://{}.{}.svc:8000", c.name, c.o.namespace_name);
}

}  // namespace

HpaTarget hpa_target(const Profile& profile) {
  const OperatingPoint& pt = profile.point;
  HpaTarget t;
  if (profile.targets.any_latency()) {
    t.metric = "vllm:num_requests_running";
    t.value = std::max(1.0, pt.mean_running);
    t.why = fmt::format(
        "Scale on the running batch (a latency target is set, GKE's guidance): {} is the mean "
        "batch the\nsimulation ran at the highest load that met the targets ({}); a bigger batch "
        "makes every step slower.",
        fmt_num(t.value), point_summary(profile));
  } else {
    t.metric = "vllm:num_requests_waiting";
    t.value = std::max(1.0, pt.mean_waiting);
    t.why = fmt::format(
        "Scale on the queue (no latency target: throughput and cost, GKE's guidance): {} is "
        "max(1, the mean\nqueue the simulation saw at saturation, {}); a longer queue means "
        "requests arrive faster than a pod serves them.",
        fmt_num(t.value), fmt_num(pt.mean_waiting));
  }
  return t;
}

std::string hpa_metric_name(std::string_view vllm_metric, std::string_view monitoring) {
  if (monitoring == "podmonitoring") {
    return fmt::format("prometheus.googleapis.com|{}|gauge", vllm_metric);
  }
  std::string name(vllm_metric);
  std::replace(name.begin(), name.end(), ':', '_');
  return name;
}

std::string dns_label(std::string_view text, size_t max_length) {
  std::string out;
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) && c < 0x80) {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) out = "model";
  if (out.size() > max_length) {
    const std::string suffix = fmt::format("-{:05x}", fnv1a(text) & 0xfffff);
    out.resize(max_length > suffix.size() ? max_length - suffix.size() : 0);
    while (!out.empty() && out.back() == '-') out.pop_back();
    out += suffix;
  }
  return out;
}

Result<std::string> manifest_name(const Profile& profile, const ManifestOptions& options) {
  if (!options.name.empty()) {
    if (!is_dns_1035_label(options.name) || options.name.size() > kMaxManifestNameLength) {
      return fail(
          "name '{}': must be a DNS-1035 label (lowercase letters, digits and '-', starting "
          "with a letter) of at most {} characters, e.g. '{}'",
          options.name, kMaxManifestNameLength,
          dns_label("vllm-" + options.name, kMaxManifestNameLength));
    }
    return options.name;
  }
  std::string_view model = profile.model;
  // "meta-llama/Llama-3.1-8B-Instruct" -> "llama-3-1-8b-instruct": the organisation is noise.
  if (const size_t slash = model.find_last_of('/');
      slash != std::string_view::npos && slash + 1 < model.size()) {
    model.remove_prefix(slash + 1);
  }
  return "vllm-" + dns_label(model, kMaxManifestNameLength - 5);
}

Result<std::string> make_perf_config(const Profile& profile, const ManifestOptions& options,
                                     std::string_view base_url) {
  auto c = make_context(profile, options);
  if (!c) return fail(c.error());
  return perf_config(*c, base_url.empty() ? service_url(*c) : std::string(base_url));
}

Result<std::vector<ManifestFile>> make_manifests(const Profile& profile,
                                                 const ManifestOptions& options) {
  auto ctx = make_context(profile, options);
  if (!ctx) return fail(ctx.error());
  const Context& c = *ctx;
  std::string device_class = options.device_class;
  if (options.dra && device_class.empty()) {
    if (c.acc.vendor != Vendor::kNvidia) {
      return fail("accelerator {}: DRA needs a device class (no default for this vendor)",
                  profile.accelerator);
    }
    device_class = "gpu.nvidia.com";
  }

  std::vector<ManifestFile> files;
  auto add = [&](std::string file, std::string kind, std::string api, const Node& node,
                 std::string_view about) {
    files.push_back({std::move(file), std::move(kind), std::move(api),
                     render(node, fmt::format("{}\n{}", c.header, about))});
  };
  add("deployment.yaml", "Deployment", "apps/v1", deployment(c),
      "The vLLM server: settings, accelerators and probes.");
  if (options.dra) {
    add("resourceclaimtemplate.yaml", "ResourceClaimTemplate", "resource.k8s.io/v1",
        resource_claim_template(c, device_class),
        "Each pod's accelerators as a DRA claim (Kubernetes 1.34+, a DRA driver installed).");
  }
  add("service.yaml", "Service", "v1", service(c), "The pods' OpenAI API inside the cluster.");
  if (options.monitoring == "podmonitoring") {
    add("podmonitoring.yaml", "PodMonitoring", "monitoring.googleapis.com/v1", monitor(c),
        "Google Cloud Managed Prometheus scrapes vLLM's /metrics.");
  } else {
    add("servicemonitor.yaml", "ServiceMonitor", "monitoring.coreos.com/v1", monitor(c),
        "The Prometheus Operator scrapes vLLM's /metrics.");
  }
  add("hpa.yaml", "HorizontalPodAutoscaler", "autoscaling/v2", hpa(c),
      "Adds replicas when the per-pod load passes the simulated knee.");
  add("inferencepool.yaml", "InferencePool", "inference.networking.k8s.io/v1", inference_pool(c),
      "The pods as a pool for an AI-aware gateway (Gateway API Inference Extension).");
  files.push_back({"perf-config.yaml", "PerfConfig", "", perf_config(c, service_url(c))});
  add("kustomization.yaml", "Kustomization", "", kustomization(files),
      "`kubectl kustomize .` renders the objects; `kubectl apply -k .` applies them.");
  return files;
}

Result<void> write_manifests(const std::filesystem::path& dir,
                             const std::vector<ManifestFile>& files, bool force) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("{}: cannot create the folder: {}", dir.string(), ec.message());
  if (!force) {
    for (const ManifestFile& f : files) {
      const std::filesystem::path path = dir / f.file_name;
      if (!std::filesystem::exists(path, ec)) continue;
      std::ifstream in(path, std::ios::binary);
      std::string first(kManifestHeader.size(), '\0');
      in.read(first.data(), static_cast<std::streamsize>(first.size()));
      if (!in || first != kManifestHeader) {
        return fail(
            "{}: exists and was not written by kgai quickstart manifests; nothing written "
            "(--force overwrites it)",
            path.string());
      }
    }
  }
  for (const ManifestFile& f : files) {
    if (auto written = write_text_file((dir / f.file_name).string(), f.content); !written)
      return fail(written.error());
  }
  return {};
}

}  // namespace kgai::quickstart
