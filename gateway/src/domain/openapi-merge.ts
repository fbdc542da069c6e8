/** The parts of an OpenAPI 3 document the merge touches; everything else is carried as it is. */
export interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  paths?: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown>>;
  tags?: { name: string; description?: string }[];
  [key: string]: unknown;
}

export interface UpstreamDocument {
  readonly name: string;
  readonly doc: OpenApiDocument | undefined;
}

type Operation = Record<string, unknown> & { responses?: Record<string, unknown>; security?: unknown; tags?: string[] };

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** `/tasks/:id` → `/tasks/{id}` */
export function openApiPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** A deep copy of `value` with `#/components/<section>/<old>` references renamed. */
function renameRefs(value: unknown, renames: Map<string, string>): unknown {
  if (renames.size === 0) return value;
  if (Array.isArray(value)) return value.map((v) => renameRefs(v, renames));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === '$ref' && typeof v === 'string' && renames.has(v) ? renames.get(v) : renameRefs(v, renames);
  }
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The document of the whole public API: the gateway's own (its routes, who may call them, its
 * own error answers) with each operation replaced by the upstream's description of it where the
 * upstream serves one. Upstream paths the gateway does not route stay private and are left out.
 * Components are merged; a name two upstreams use for different things is prefixed with the
 * upstream's name, and that upstream's references follow the new name. An upstream without a
 * document (down, or not serving one yet) leaves the gateway's own description in place.
 *
 * @param upstreamOf which upstream serves an OpenAPI path and method, or undefined.
 */
export function mergeOpenApi(
  gateway: OpenApiDocument,
  upstreams: readonly UpstreamDocument[],
  upstreamOf: (path: string, method: string) => string | undefined,
): OpenApiDocument {
  const merged: OpenApiDocument = structuredClone(gateway);
  merged.paths ??= {};
  const components: Record<string, Record<string, unknown>> = (merged.components ??= {});

  for (const { name, doc } of upstreams) {
    if (!doc?.paths) continue;
    const renames = new Map<string, string>();
    for (const [section, entries] of Object.entries(doc.components ?? {})) {
      if (section === 'securitySchemes' || entries === null || typeof entries !== 'object') continue;
      const target = (components[section] ??= {});
      for (const [key, value] of Object.entries(entries)) {
        if (key in target && !same(target[key], value)) {
          const renamed = `${name}_${key}`;
          renames.set(`#/components/${section}/${key}`, `#/components/${section}/${renamed}`);
        }
      }
    }
    for (const [section, entries] of Object.entries(doc.components ?? {})) {
      if (section === 'securitySchemes' || entries === null || typeof entries !== 'object') continue;
      const target = components[section]!;
      for (const [key, value] of Object.entries(entries)) {
        const ref = `#/components/${section}/${key}`;
        const finalKey = renames.has(ref) ? renames.get(ref)!.slice(`#/components/${section}/`.length) : key;
        target[finalKey] = renameRefs(value, renames);
      }
    }

    for (const [path, item] of Object.entries(doc.paths)) {
      const ours = merged.paths[path];
      if (!ours) continue;
      for (const [method, operation] of Object.entries(item)) {
        if (!METHODS.has(method) || !(method in ours) || upstreamOf(path, method) !== name) continue;
        const gatewayOp = ours[method] as Operation;
        const upstreamOp = renameRefs(operation, renames) as Operation;
        ours[method] = {
          ...upstreamOp,
          tags: gatewayOp.tags ?? upstreamOp.tags,
          summary: upstreamOp.summary ?? gatewayOp.summary,
          security: gatewayOp.security,
          // The upstream's answers replace the gateway's placeholder ("Default Response"); the
          // gateway's own answers are added on top by the caller, with addResponse.
          responses: upstreamOp.responses ?? gatewayOp.responses ?? {},
        };
      }
      // Path-level parameters (`{id}`) travel with the path.
      const params = (item as { parameters?: unknown }).parameters;
      if (params !== undefined && !('parameters' in ours)) ours.parameters = renameRefs(params, renames);
    }
  }

  for (const section of Object.keys(components)) {
    if (Object.keys(components[section]!).length === 0) delete components[section];
  }
  return merged;
}

type Json = Record<string, unknown>;
type Response = { description?: string; headers?: Json; content?: Record<string, { schema?: unknown }> } & Json;

const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The `code` enum of a `{ code, message }` error schema, or undefined for any other schema. */
function errorCodes(schema: unknown): string[] | undefined {
  if (!isObject(schema) || schema.type !== 'object' || !isObject(schema.properties)) return undefined;
  const code = schema.properties.code;
  if (!isObject(code) || !Array.isArray(code.enum)) return undefined;
  return Object.keys(schema.properties).every((k) => k === 'code' || k === 'message') ? (code.enum as string[]) : undefined;
}

/** One schema for an answer that is either `a` or `b`: error codes are united, anything else is `anyOf`. */
function combineSchemas(a: unknown, b: unknown): unknown {
  if (same(a, b)) return a;
  const codesA = errorCodes(a);
  const codesB = errorCodes(b);
  if (codesA && codesB) {
    const schema = a as Json & { properties: Json };
    const code = schema.properties.code as Json;
    return { ...schema, properties: { ...schema.properties, code: { ...code, enum: [...new Set([...codesA, ...codesB])].sort() } } };
  }
  return { anyOf: [a, b] };
}

/**
 * Adds an answer for `status` to an operation's responses. When the status is declared already
 * (a service's 503 and the gateway's, say), the two become one: both descriptions, the headers of
 * either, and a body schema that admits both, so that the document lists every code a client can
 * meet through the gateway.
 */
export function addResponse(responses: Record<string, unknown>, status: string, answer: Response): void {
  const existing = responses[status] as Response | undefined;
  if (!isObject(existing)) {
    responses[status] = structuredClone(answer);
    return;
  }
  const content: Record<string, { schema?: unknown }> = { ...(existing.content ?? {}) };
  for (const [media, value] of Object.entries(answer.content ?? {})) {
    const mine = content[media];
    content[media] =
      mine?.schema !== undefined && value.schema !== undefined
        ? { ...mine, schema: combineSchemas(mine.schema, value.schema) }
        : (mine ?? value);
  }
  const description =
    existing.description === undefined || existing.description === answer.description
      ? answer.description
      : answer.description === undefined
        ? existing.description
        : `${existing.description}; or (from the gateway) ${answer.description.charAt(0).toLowerCase()}${answer.description.slice(1)}`;
  responses[status] = {
    ...existing,
    ...(description !== undefined ? { description } : {}),
    ...(existing.headers || answer.headers ? { headers: { ...answer.headers, ...existing.headers } } : {}),
    ...(Object.keys(content).length > 0 ? { content } : {}),
  };
}
