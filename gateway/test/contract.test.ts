/**
 * Conventions every method of the contract keeps, read from the descriptors the gateway
 * routes: checked here once rather than method by method.
 */
import { type DescMethod, getOption } from "@bufbuild/protobuf";
import { field as fieldRules } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { MAX_PAGE_TOKEN_LENGTH } from "@classconnect/platform";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { routeTable } from "../src/index.js";

const test = suite("gateway: conventions of the contract");

const methods = routeTable.flatMap(({ service }) => service.methods as DescMethod[]);

test("every list takes back the longest page token the platform writes, and writes its next one", () => {
  const lists = methods.filter((m) => m.input.field.pageToken);
  for (const m of lists) {
    const rules = getOption(m.input.field.pageToken!, fieldRules);
    const maxLen = rules.type.case === "string" ? rules.type.value.maxLen : undefined;
    assert.is(maxLen, BigInt(MAX_PAGE_TOKEN_LENGTH), `${m.parent.name}.${m.name}: page_token max_len`);
    assert.ok(m.output.field.nextPageToken, `${m.parent.name}.${m.name} answers with next_page_token`);
  }
  assert.ok(lists.length >= 20, `${lists.length} lists`);
});

test.run();
