import type { DescMethod } from "@bufbuild/protobuf";
import { getOption } from "@bufbuild/protobuf";
import { Access, access } from "@classconnect/gen/classconnect/common/v1/access_pb.js";

export { Access };

const cache = new WeakMap<DescMethod, readonly Access[]>();

/** Services every server and the gateway answer without credentials. */
const alwaysPublicServices = new Set(["grpc.health.v1.Health"]);

/** The access levels declared on a method with the `classconnect.common.v1.access` option. */
export function methodAccess(method: DescMethod): readonly Access[] {
  let levels = cache.get(method);
  if (!levels) {
    levels = alwaysPublicServices.has(method.parent.typeName)
      ? [Access.PUBLIC]
      : getOption(method, access).filter((a) => a !== Access.UNSPECIFIED);
    cache.set(method, levels);
  }
  return levels;
}

/** True when only other services may call the method. */
export function isInternalOnly(method: DescMethod): boolean {
  const levels = methodAccess(method);
  return levels.length > 0 && levels.every((a) => a === Access.INTERNAL);
}
