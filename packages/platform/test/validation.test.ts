/**
 * The validation interceptor's checks: ClassConnect's predefined rules
 * (classconnect/common/v1/validate.proto) apply, which protovalidate does only when
 * it is given their extensions; without them it would skip the rule in silence.
 */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { StructSchema, timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { CreateRuleRequestSchema } from "@classconnect/gen/classconnect/admin/v1/rule_service_pb.js";
import { ListCoursesRequestSchema } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import {
  AddAssistantRequestSchema,
  Permission,
} from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { SubmitAssessmentRequestSchema } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { PublishEventRequestSchema } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import {
  UpdateMeRequestSchema,
  UploadAvatarRequestSchema,
  UserUpdateSchema,
} from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { rejects, violatedFields } from "../src/testing/expect.js";
import { assertValid, nulFields } from "../src/validation-interceptor.js";

const test = suite("platform: validation");

/** UpdateMe with `website` set: its field carries the http_url rule. */
function checkWebsite(website: string): ConnectError | undefined {
  try {
    assertValid(
      UpdateMeRequestSchema,
      create(UpdateMeRequestSchema, { user: { website }, updateMask: { paths: ["website"] } }),
    );
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

test("http_url accepts http(s) URLs with a host, and an empty value", () => {
  for (const url of [
    "https://ada.example.com",
    "http://ada.example.com/notes?page=2#top",
    "https://127.0.0.1:8443/x",
    "",
  ]) {
    assert.is(checkWebsite(url), undefined, url);
  }
});

test("http_url refuses every other scheme and what is not a URL, in one violation", () => {
  for (const url of [
    "javascript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "ftp://files.example.com",
    "https://",
    "https:///path",
    "//ada.example.com",
    "ada.example.com",
    "not a url",
    " https://ada.example.com",
  ]) {
    const e = checkWebsite(url);
    assert.ok(e, `${url} was accepted`);
    assert.is(e.code, Code.InvalidArgument, url);
    assert.equal(violatedFields(e), ["user.website"], url);
    assert.match(e.rawMessage, "user.website: must be an http:// or https:// URL", url);
  }
});

test("a NUL character is found in any string: nested, listed, mapped or in a oneof", () => {
  const submit = create(SubmitAssessmentRequestSchema, {
    assessmentId: "a",
    answers: [
      { questionId: "q1", optionIds: ["a", "b\0"] },
      { questionId: "q2", text: "fine\0 until here", fileName: "x.pdf", fileContent: new Uint8Array([0, 0]) },
    ],
  });
  assert.equal(nulFields(SubmitAssessmentRequestSchema, submit), [
    "answers[0].option_ids[1]",
    "answers[1].text",
  ]);
  const event = (data: Record<string, string>) => create(PublishEventRequestSchema, { data });
  assert.equal(nulFields(PublishEventRequestSchema, event({ title: "a\0" })), ["data"]);
  assert.equal(nulFields(PublishEventRequestSchema, event({ "ti\0tle": "a" })), ["data"]);
  assert.equal(nulFields(PublishEventRequestSchema, event({ title: "Ünïcødé ✓ \u{1F600}" })), []);
  const value = create(ValueSchema, { kind: { case: "stringValue", value: "\0" } });
  assert.equal(nulFields(ValueSchema, value), ["string_value"]);
  assert.equal(nulFields(StructSchema, create(StructSchema, { fields: { k: value } })), [
    'fields["k"].string_value',
  ]);
});

test("assertValid names NUL fields with the rules' violations, each field once", () => {
  const e = (() => {
    try {
      assertValid(
        UpdateMeRequestSchema,
        create(UpdateMeRequestSchema, {
          user: { bio: "a\0b", website: "ftp://\0" },
          updateMask: { paths: ["bio", "website"] },
        }),
      );
    } catch (err) {
      return ConnectError.from(err);
    }
  })();
  assert.is(e?.code, Code.InvalidArgument);
  assert.equal(violatedFields(e!), ["user.bio", "user.website"]);
  assert.match(e!.rawMessage, "user.bio: must not contain NUL characters (U+0000)");
});

test("assertValid names the fields of a message checked alone under the request field it came in", () => {
  const check = (under?: string) => {
    try {
      assertValid(UserUpdateSchema, create(UserUpdateSchema, { bio: "a\0b", website: "ftp://x" }), under);
    } catch (err) {
      return ConnectError.from(err);
    }
  };
  assert.equal(violatedFields(check()!), ["bio", "website"]);
  const e = check("user");
  assert.equal(violatedFields(e!), ["user.bio", "user.website"]);
  assert.match(e!.rawMessage, "user.website: ");
});

/** The INVALID_ARGUMENT error assertValid throws for `init` as a `schema` message. */
const refused = <S extends DescMessage>(schema: S, init: MessageInitShape<S>) =>
  rejects((async () => assertValid(schema, create(schema, init)))(), Code.InvalidArgument);

/** A CreateRule request whose rule takes effect `days` from now (in the past when negative). */
const honorCode = (days: number, conditions: string[]) => ({
  rule: {
    title: "Honor code",
    description: "Do your own work",
    effectiveTime: timestampFromDate(new Date(Date.now() + days * 86_400_000)),
    conditions,
  },
});

test("a minimum length of one reads 'must not be empty', for strings and bytes", async () => {
  const rule = await refused(CreateRuleRequestSchema, honorCode(1, ["No plagiarism", ""]));
  assert.is(rule.rawMessage, "invalid request: rule.conditions[1]: must not be empty");
  const avatar = await refused(UploadAvatarRequestSchema, {});
  assert.is(avatar.rawMessage, "invalid request: content: must not be empty");
});

test("a string's allowed values are quoted and an enum's zero value is 'unspecified'", async () => {
  const order = await refused(ListCoursesRequestSchema, { orderBy: "popularity" });
  assert.is(
    order.rawMessage,
    'invalid request: order_by: must be one of "start_time", "create_time desc", "title", "seats_left desc", or empty',
  );
  const permissions = await refused(AddAssistantRequestSchema, {
    courseId: "789ba82e-5eb3-4063-94a4-cbd030a5356d",
    userId: "f0b4707d-48d9-4a4e-b3d0-b1d1a7176225",
    permissions: [Permission.GRADING, Permission.UNSPECIFIED],
  });
  assert.is(permissions.rawMessage, "invalid request: permissions[1]: must not be unspecified");
});

test("a message rule's text does not name its field twice", async () => {
  const now = Date.now();
  const dates = await refused(ListCoursesRequestSchema, {
    startAfter: timestampFromDate(new Date(now)),
    startBefore: timestampFromDate(new Date(now - 86_400_000)),
  });
  assert.is(dates.rawMessage, "invalid request: start_before: must be after start_after");
  const rule = await refused(CreateRuleRequestSchema, honorCode(-1, ["No plagiarism"]));
  assert.is(rule.rawMessage, "invalid request: rule.effective_time: must be in the future");
});

test.run();
