import { ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import type { ConnectError } from "@connectrpc/connect";

export { at, courseInput, DAY } from "@classconnect/gateway/testing";
export { errorMetadata, invalid, rejects } from "@classconnect/platform/testing";

export const reasonOf = (e: ConnectError) => e.findDetails(ErrorInfoSchema)[0];
