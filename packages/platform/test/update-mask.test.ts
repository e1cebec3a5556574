/** Update masks: only the paths an update accepts, exactly, at least one. */

import { create } from "@bufbuild/protobuf";
import { UpdateModuleRequestSchema } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { InvalidArgumentError } from "../src/errors.js";
import { maskedFields, maskPaths } from "../src/update-mask.js";
import { assertValid } from "../src/validation-interceptor.js";

const test = suite("platform: update masks");
const names = { title: "title", description: "description" } as const;
const source = { title: "Week 1", description: "Intro", position: 3 };

function refused(paths: string[] | undefined): string {
  try {
    maskedFields(source, paths, names);
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    const [violation, ...more] = (err as InvalidArgumentError).violations;
    assert.is(more.length, 0);
    assert.is(violation?.field, "update_mask");
    return violation!.description;
  }
  assert.unreachable(`${JSON.stringify(paths)} was accepted`);
  return "";
}

test("the fields named, each once, and no other", () => {
  assert.equal(maskedFields(source, ["title"], names), { title: "Week 1" });
  assert.equal(maskedFields(source, ["description", "title", "title"], names), {
    description: "Intro",
    title: "Week 1",
  });
  assert.equal(maskPaths(["events", "events"], ["events"]), ["events"]);
});

test("no path, an unknown one, a sub-path or an object's own property is refused", () => {
  assert.is(refused(undefined), "name at least one field to change");
  assert.is(refused([]), "name at least one field to change");
  assert.is(refused(["title", "position"]), "unknown or read-only fields: position");
  assert.is(refused(["constructor", "toString"]), "unknown or read-only fields: constructor, toString");
  // protovalidate's field_mask.in lets a sub-path of an accepted one through; this does not.
  const subPath = create(UpdateModuleRequestSchema, {
    moduleId: "6f1c7d0e-8a5b-4c2d-9e3f-0a1b2c3d4e5f",
    title: "x",
    updateMask: { paths: ["title.x"] },
  });
  assertValid(UpdateModuleRequestSchema, subPath);
  assert.is(refused(subPath.updateMask!.paths), "unknown or read-only fields: title.x");
});

test.run();
