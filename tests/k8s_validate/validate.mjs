// Validates Kubernetes objects in YAML files against the Kubernetes API schemas, without a
// cluster. Used by tests/unit/quickstart/manifests_schema_test.cpp on what
// `kgai quickstart manifests` writes (and on `kubectl kustomize` of it).
//
//   node tests/k8s_validate/validate.mjs --modules .cache/k8s-validate/node_modules FILE...
//
// Per object, by apiVersion and kind:
// - Built-in kinds (apps/v1 Deployment, v1 Service, autoscaling/v2 HorizontalPodAutoscaler,
//   resource.k8s.io/v1 ResourceClaimTemplate): the Kubernetes OpenAPI schema as compiled by the
//   npm package kubernetes-models (types, required fields, enums, int32/int64 formats), and a
//   strict field walk over @kubernetes/client-node's model type maps: a field the API does not
//   know is an error, as with `kubectl apply --validate=strict`.
// - ServiceMonitor (monitoring.coreos.com/v1): the CRD schema as compiled by
//   @kubernetes-models/prometheus-operator.
// - PodMonitoring (monitoring.googleapis.com/v1) and InferencePool
//   (inference.networking.k8s.io/v1): no npm package ships their schemas, so the structural
//   checks below are written by hand from the CRDs' v1 openAPIV3Schema (required fields,
//   types, allowed fields, ranges, patterns of the fields kgai writes).
// - Kustomization: skipped (`kubectl kustomize` checks it by rendering).
// Prints one line per object ("ok FILE: Kind/name" or "error FILE: Kind/name: ..."); exits 1
// if any object is invalid, 2 on bad usage or a missing package.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const modulesAt = args.indexOf("--modules");
if (modulesAt < 0 || modulesAt + 1 >= args.length) {
  console.error("usage: validate.mjs --modules NODE_MODULES_DIR FILE...");
  process.exit(2);
}
const modules = path.resolve(args[modulesAt + 1]);
const files = args.filter((_, i) => i !== modulesAt && i !== modulesAt + 1);

async function load(relative) {
  const file = path.join(modules, relative);
  if (!fs.existsSync(file)) {
    console.error(`validate.mjs: ${file} is missing (run scripts/deps.sh)`);
    process.exit(2);
  }
  return import(pathToFileURL(file).href);
}

const yaml = (await load("js-yaml/dist/js-yaml.mjs")).default;
const k8s = await load("@kubernetes/client-node/dist/gen/models/all.js");

// kubernetes-models class file and @kubernetes/client-node model name per built-in kind.
const builtin = {
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment.js", "V1Deployment"],
  "v1/Service": ["kubernetes-models/v1/Service.js", "V1Service"],
  "autoscaling/v2/HorizontalPodAutoscaler": [
    "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler.js",
    "V2HorizontalPodAutoscaler",
  ],
  "resource.k8s.io/v1/ResourceClaimTemplate": [
    "kubernetes-models/resource.k8s.io/v1/ResourceClaimTemplate.js",
    "V1ResourceClaimTemplate",
  ],
  "monitoring.coreos.com/v1/ServiceMonitor": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
    null,
  ],
};

// The strict walk: every field must be in the model's attributeTypeMap, recursively.
function strictFields(value, type, where, errors) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(value)) return errors.push(`${where}: expected a list`);
    value.forEach((v, i) => strictFields(v, m[1], `${where}[${i}]`, errors));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof value !== "object" || Array.isArray(value)) {
      return errors.push(`${where}: expected a map`);
    }
    for (const [k, v] of Object.entries(value)) strictFields(v, m[1], `${where}.${k}`, errors);
    return;
  }
  const model = k8s[type];
  if (!model || typeof model.getAttributeTypeMap !== "function") return;  // a scalar type
  if (typeof value !== "object" || Array.isArray(value)) {
    return errors.push(`${where}: expected an object (${type})`);
  }
  const known = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) {
      errors.push(`${where}.${k}: unknown field (${type} has ${[...known.keys()].join(", ")})`);
    } else {
      strictFields(v, known.get(k), `${where}.${k}`, errors);
    }
  }
}

// Hand-written checks for CRDs without a schema package. `spec` lists allowed fields; a field
// is [check, required].
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const isString = (v) => typeof v === "string";
const isInt = (lo, hi) => (v) => Number.isInteger(v) && v >= lo && v <= hi;
const matchLabels = (v) =>
  v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length >= 1 &&
  Object.keys(v).length <= 64 &&
  Object.values(v).every((x) => isString(x) && x.length <= 63 && labelValue.test(x));

function checkObject(value, shape, where, errors) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return errors.push(`${where}: expected an object`);
  }
  for (const k of Object.keys(value)) {
    if (!(k in shape)) errors.push(`${where}.${k}: unknown field`);
  }
  for (const [k, [check, required]] of Object.entries(shape)) {
    if (!(k in value)) {
      if (required) errors.push(`${where}.${k}: required`);
      continue;
    }
    if (typeof check === "function") {
      if (!check(value[k])) errors.push(`${where}.${k}: invalid value ${JSON.stringify(value[k])}`);
    } else if (Array.isArray(check)) {  // [min, max, item shape]
      const [min, max, item] = check;
      if (!Array.isArray(value[k]) || value[k].length < min || value[k].length > max) {
        errors.push(`${where}.${k}: expected a list of ${min} to ${max} items`);
      } else {
        value[k].forEach((v, i) => checkObject(v, item, `${where}.${k}[${i}]`, errors));
      }
    } else {
      checkObject(value[k], check, `${where}.${k}`, errors);
    }
  }
}

const prometheusDuration = /^((\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?|0)$/;
const crdShapes = {
  // monitoring.googleapis.com_podmonitorings.yaml, v1 (prometheus-engine).
  "monitoring.googleapis.com/v1/PodMonitoring": {
    selector: [{ matchLabels: [matchLabels, false] }, true],
    endpoints: [
      [1, 10, {
        port: [(v) => isInt(1, 65535)(v) || (isString(v) && /^[a-z0-9-]{1,15}$/.test(v)), true],
        path: [isString, false],
        scheme: [(v) => v === "http" || v === "https", false],
        interval: [(v) => isString(v) && v !== "" && prometheusDuration.test(v), true],
        timeout: [(v) => isString(v) && prometheusDuration.test(v), false],
      }],
      true,
    ],
    filterRunning: [(v) => typeof v === "boolean", false],
  },
  // inference.networking.k8s.io_inferencepools.yaml, v1 (gateway-api-inference-extension).
  "inference.networking.k8s.io/v1/InferencePool": {
    selector: [{ matchLabels: [matchLabels, true] }, true],
    targetPorts: [[1, 8, { number: [isInt(1, 65535), true] }], true],
    appProtocol: [(v) => v === "http" || v === "kubernetes.io/h2c", false],
    endpointPickerRef: [
      {
        group: [(v) => isString(v) && v.length <= 253, false],
        kind: [(v) => isString(v) && /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/.test(v), false],
        name: [(v) => isString(v) && v.length >= 1 && v.length <= 253 && dns1123Label.test(v), true],
        port: [{ number: [isInt(1, 65535), true] }, false],
        failureMode: [(v) => v === "FailOpen" || v === "FailClose", false],
      },
      true,
    ],
  },
};

// Enumerations the OpenAPI documents only in prose (the API server checks them in code).
function checkEnums(doc, errors) {
  if (doc.kind !== "HorizontalPodAutoscaler") return;
  const metricTypes = ["Object", "Pods", "Resource", "ContainerResource", "External"];
  const targetTypes = ["Utilization", "Value", "AverageValue"];
  (doc.spec?.metrics ?? []).forEach((m, i) => {
    if (!metricTypes.includes(m.type)) errors.push(`spec.metrics[${i}].type: ${m.type}`);
    const source = m[m.type?.charAt(0).toLowerCase() + m.type?.slice(1)];
    if (!source) errors.push(`spec.metrics[${i}]: no ${m.type} block`);
    else if (!targetTypes.includes(source.target?.type)) {
      errors.push(`spec.metrics[${i}].target.type: ${source.target?.type}`);
    }
  });
}

function checkMetadata(meta, where, errors) {
  checkObject(meta, {
    name: [(v) => isString(v) && v.length <= 253 && dns1123Label.test(v), true],
    namespace: [(v) => isString(v) && v.length <= 63 && dns1123Label.test(v), false],
    labels: [(v) => v && typeof v === "object" && Object.values(v).every(
      (x) => isString(x) && x.length <= 63 && labelValue.test(x)), false],
    annotations: [(v) => v && typeof v === "object" && Object.values(v).every(isString), false],
  }, where, errors);
}

let failed = false;
for (const file of files) {
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d !== null);
  } catch (e) {
    console.log(`error ${file}: ${e.message}`);
    failed = true;
    continue;
  }
  for (const doc of docs) {
    const key = `${doc.apiVersion}/${doc.kind}`;
    const id = `${doc.kind}/${doc.metadata?.name}`;
    const errors = [];
    if (doc.kind === "Kustomization") continue;
    if (builtin[key]) {
      const [modelFile, clientModel] = builtin[key];
      const module = await load(modelFile);
      const Model = module[doc.kind];
      try {
        new Model(doc).validate();
      } catch (e) {
        errors.push(e.message);
      }
      if (clientModel) strictFields(doc, clientModel, doc.kind, errors);
      checkEnums(doc, errors);
      checkMetadata(doc.metadata, "metadata", errors);
    } else if (crdShapes[key]) {
      checkObject(doc, {
        apiVersion: [isString, true], kind: [isString, true],
        metadata: [(v) => v && typeof v === "object", true], spec: [crdShapes[key], true],
      }, doc.kind, errors);
      checkMetadata(doc.metadata, "metadata", errors);
    } else {
      errors.push(`no schema known for ${key}`);
    }
    if (errors.length) {
      failed = true;
      console.log(`error ${file}: ${id}: ${errors.join("; ")}`);
    } else {
      console.log(`ok ${file}: ${id}`);
    }
  }
}
process.exit(failed ? 1 : 0);
