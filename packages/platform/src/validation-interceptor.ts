import { createRegistry, type DescMessage, type Message, ScalarType } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { file_classconnect_common_v1_validate } from "@classconnect/gen/classconnect/common/v1/validate_pb.js";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { badRequest } from "./error-interceptor.js";
import type { FieldViolation } from "./errors.js";

// ClassConnect's predefined rules (classconnect/common/v1/validate.proto) apply only when
// the validator knows their extensions.
const validator = createValidator({ registry: createRegistry(file_classconnect_common_v1_validate) });

/**
 * Message-level CEL rules (those that compare fields) have no field path of
 * their own (only the path to their message); by convention their id names the
 * field they guard: `<field>-<rule>`, e.g. `end_time-after_start_time`.
 * Standard rule ids (`string.min_len`, …) contain no dash.
 */
function fieldOfMessageRule(ruleId: string): string {
  const dash = ruleId.indexOf("-");
  return dash > 0 ? ruleId.slice(0, dash) : "";
}

const hasNul = (text: string) => text.includes("\0");

/**
 * The string fields of `message` (paths as violations name them: `answers[0].text`) that hold
 * U+0000. Valid Unicode, but no text column stores it (PostgreSQL refuses it), no e-mail or
 * push carries it, and no user types it: every string a client sends is refused with it.
 */
export function nulFields(schema: DescMessage, message: object, prefix = "", found: string[] = []): string[] {
  const values = message as Record<string, unknown>;
  for (const f of schema.fields) {
    let value = values[f.localName];
    if (f.oneof) {
      const chosen = values[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
      value = chosen?.case === f.localName ? chosen.value : undefined;
    }
    if (value === undefined || value === null) continue;
    const path = prefix + f.name;
    if (f.fieldKind === "scalar") {
      if (f.scalar === ScalarType.STRING && hasNul(value as string)) found.push(path);
    } else if (f.fieldKind === "message") {
      nulFields(f.message, value as object, `${path}.`, found);
    } else if (f.fieldKind === "list") {
      (value as unknown[]).forEach((item, i) => {
        if (f.listKind === "message") nulFields(f.message, item as object, `${path}[${i}].`, found);
        else if (f.scalar === ScalarType.STRING && hasNul(item as string)) found.push(`${path}[${i}]`);
      });
    } else if (f.fieldKind === "map") {
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (
          hasNul(key) ||
          (f.mapKind === "scalar" && f.scalar === ScalarType.STRING && hasNul(item as string))
        )
          found.push(path);
        else if (f.mapKind === "message")
          nulFields(f.message, item as object, `${path}[${JSON.stringify(key)}].`, found);
      }
    }
  }
  return found;
}

/**
 * protovalidate's words for a violation, said as a person would where they are a
 * program's: "must not be empty", not "must be at least 1 characters"; a string's allowed
 * values quoted, the empty one named, not "must be in list [, title]"; an enum's zero
 * value refused as "must not be unspecified", not "must not be in list [0]" (a caller
 * sends the name, never the number); a message rule's field named once, not twice.
 */
function described({ message, ruleId }: { message: string; ruleId: string }): string {
  if (/^must be at least 1 (characters|bytes)$/.test(message)) return "must not be empty";
  const listed = /^must be in list \[(.*)\]$/.exec(message);
  if (ruleId === "string.in" && listed) {
    const values = listed[1]!.split(", ");
    const named = values.filter((v) => v !== "").map((v) => JSON.stringify(v));
    return `must be one of ${named.join(", ")}${values.includes("") ? ", or empty" : ""}`;
  }
  if (ruleId === "enum.not_in" && message === "must not be in list [0]") return "must not be unspecified";
  // A message rule's text names the field it guards, so that it reads alone ("end_time must be
  // after start_time"); beside the field's path that name goes ("end_time: must be after…").
  const guarded = fieldOfMessageRule(ruleId);
  const name = guarded.slice(guarded.lastIndexOf(".") + 1);
  if (name && message.startsWith(`${name} `)) return message.slice(name.length + 1);
  return message;
}

/**
 * Checks a message against its protovalidate rules, and that no string holds U+0000
 * (`nulFields`); throws INVALID_ARGUMENT naming every bad field (message text and
 * google.rpc.BadRequest details). `under` names the request field the message came in
 * (`course` for UpdateCourse's merged course), so that the fields are named as the caller
 * sent them: `course.title`, as CreateCourse names them.
 */
export function assertValid(schema: DescMessage, message: Message, under?: string): void {
  const result = validator.validate(schema, message);
  if (result.kind === "error") {
    throw new ConnectError(`validation failed: ${result.error.message}`, Code.Internal);
  }
  const nul = nulFields(schema, message).map((field) => ({
    field,
    description: "must not contain NUL characters (U+0000)",
    reason: "string.no_nul",
  }));
  if (result.kind === "valid" && nul.length === 0) return;
  const rules: FieldViolation[] = (result.kind === "valid" ? [] : result.violations).map((v) => {
    const path = pathToString(v.field);
    const guarded = fieldOfMessageRule(v.ruleId);
    return {
      field: guarded ? (path ? `${path}.${guarded}` : guarded) : path || schema.name,
      description: described(v),
      reason: v.ruleId,
    };
  });
  const violations = [...rules, ...nul.filter((n) => !rules.some((r) => r.field === n.field))].map((v) =>
    under ? { ...v, field: `${under}.${v.field}` } : v,
  );
  throw new ConnectError(
    `invalid request: ${violations.map((v) => `${v.field}: ${v.description}`).join("; ")}`,
    Code.InvalidArgument,
    undefined,
    [badRequest(violations)],
  );
}

/** Enforces the protovalidate rules of every incoming message, once, before handlers. */
export function createValidationInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (!req.stream) {
      assertValid(req.method.input, req.message);
      return next(req);
    }
    const input = req.message;
    async function* validated() {
      for await (const message of input) {
        assertValid(req.method.input, message);
        yield message;
      }
    }
    return next({ ...req, message: validated() });
  };
}
