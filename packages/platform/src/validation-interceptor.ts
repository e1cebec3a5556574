import { createRegistry, type DescMessage, type Message } from "@bufbuild/protobuf";
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

/**
 * Checks a message against its protovalidate rules; throws INVALID_ARGUMENT
 * naming every bad field (message text and google.rpc.BadRequest details).
 */
export function assertValid(schema: DescMessage, message: Message): void {
  const result = validator.validate(schema, message);
  if (result.kind === "valid") return;
  if (result.kind === "error") {
    throw new ConnectError(`validation failed: ${result.error.message}`, Code.Internal);
  }
  const violations: FieldViolation[] = result.violations.map((v) => {
    const path = pathToString(v.field);
    const guarded = fieldOfMessageRule(v.ruleId);
    return {
      field: guarded ? (path ? `${path}.${guarded}` : guarded) : path || schema.name,
      description: v.message,
      reason: v.ruleId,
    };
  });
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
