import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EducationLevel } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { MAX_PAGE_TOKEN_LENGTH } from "@classconnect/platform";
import {
  invalid,
  type LoopbackS3,
  rejects,
  startLoopbackS3,
  TEST_JPEG,
  TEST_PNG,
  TEST_WEBP,
  violatedFields,
} from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { maskEmail } from "../src/domain/profiles.js";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const test = suite<{ h: UsersHarness }>("users: UserService");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness();
});
test.after(async (ctx) => {
  await ctx.h.close();
});

test("GetMe returns the caller's private data; refuses anonymous and admin callers", async ({ h }) => {
  const u = await h.register();
  const me = await h.users.getMe({}, h.bearer(u.accessToken));
  assert.is(me.user?.id, u.userId);
  assert.is(me.user?.email, u.email);
  assert.is(me.user?.location, "London");
  await rejects(h.users.getMe({}), Code.Unauthenticated);
  await rejects(h.users.getMe({}, h.bearer(await h.adminToken())), Code.PermissionDenied);
});

test("UpdateMe changes exactly the masked fields", async ({ h }) => {
  const u = await h.register();
  const res = await h.users.updateMe(
    {
      user: {
        bio: "Analytical engines",
        firstName: "IGNORED",
        website: "https://ada.example.com",
        educationLevel: EducationLevel.MASTER,
        privacy: { showEmail: true, showLocation: false },
        notificationsOptIn: true,
      },
      updateMask: { paths: ["bio", "website", "education_level", "privacy", "notifications_opt_in"] },
    },
    h.bearer(u.accessToken),
  );
  assert.is(res.user?.bio, "Analytical engines");
  assert.is(res.user?.firstName, "Ada");
  assert.is(res.user?.website, "https://ada.example.com");
  assert.is(res.user?.educationLevel, EducationLevel.MASTER);
  assert.equal([res.user?.privacy?.showEmail, res.user?.privacy?.showLocation], [true, false]);
  assert.is(res.user?.notificationsOptIn, true);
  const again = await h.users.getMe({}, h.bearer(u.accessToken));
  assert.is(again.user?.bio, "Analytical engines");
  // Names and places are stored without the spaces around them.
  const moved = await h.users.updateMe(
    { user: { lastName: "  King ", location: " Ockham" }, updateMask: { paths: ["last_name", "location"] } },
    h.bearer(u.accessToken),
  );
  assert.equal(
    [moved.user?.firstName, moved.user?.lastName, moved.user?.location],
    ["Ada", "King", "Ockham"],
  );
  assert.is(moved.user?.bio, "Analytical engines");
  // A time zone for the times in notices: set as given, cleared back to UTC.
  const zone = (timeZone: string) =>
    h.users.updateMe({ user: { timeZone }, updateMask: { paths: ["time_zone"] } }, h.bearer(u.accessToken));
  assert.is((await zone(" Europe/London ")).user?.timeZone, "Europe/London");
  assert.is((await h.users.getMe({}, h.bearer(u.accessToken))).user?.timeZone, "Europe/London");
  assert.is((await zone("")).user?.timeZone, "");
});

test("UpdateMe refuses invalid values, unknown paths and taken e-mails, changing nothing", async ({ h }) => {
  const u = await h.register();
  const other = await h.register();
  const call = (user: object, paths: string[]) =>
    h.users.updateMe({ user, updateMask: { paths }, password: u.password }, h.bearer(u.accessToken));
  await invalid(call({ firstName: "" }, ["first_name"]), ["user.first_name"]);
  await invalid(call({ lastName: "" }, ["last_name"]), ["user.last_name"]);
  await invalid(call({ firstName: "  " }, ["first_name"]), ["user.first_name"]);
  await invalid(call({ timeZone: "Mars/Olympus_Mons" }, ["time_zone"]), ["user.time_zone"]);
  await invalid(call({ timeZone: "z".repeat(65) }, ["time_zone"]), ["user.time_zone"]);
  await invalid(call({ firstName: " ", timeZone: "Nowhere" }, ["first_name", "time_zone"]), [
    "user.first_name",
    "user.time_zone",
  ]);
  await invalid(call({ lastName: " \t" }, ["last_name"]), ["user.last_name"]);
  await invalid(call({ location: "" }, ["location"]), ["user.location"]);
  await invalid(call({ email: "" }, ["email"]), ["user.email"]);
  await invalid(call({ email: "bad" }, ["email"]), ["user.email"]);
  await invalid(call({ website: "ftp://x.example.com" }, ["website"]), ["user.website"]);
  await invalid(call({ bio: "b".repeat(2001) }, ["bio"]), ["user.bio"]);
  await invalid(call({ educationLevel: 42 }, ["education_level"]), ["user.education_level"]);
  await invalid(call({ bio: "x" }, ["password"]), ["update_mask"]);
  await invalid(h.users.updateMe({ user: { bio: "x" } }, h.bearer(u.accessToken)), ["update_mask"]);
  await invalid(h.users.updateMe({ updateMask: { paths: ["bio"] } }, h.bearer(u.accessToken)), ["user"]);
  // A sub-path passes protovalidate's field_mask.in; UpdateMe refuses it rather than change nothing.
  await invalid(
    h.users.updateMe({ user: { bio: "x" }, updateMask: { paths: ["bio.x"] } }, h.bearer(u.accessToken)),
    ["update_mask"],
  );
  await rejects(call({ email: other.email }, ["email"]), Code.AlreadyExists, "EMAIL_TAKEN");
  await rejects(
    h.users.updateMe({ user: { bio: "x" }, updateMask: { paths: ["bio"] } }),
    Code.Unauthenticated,
  );
  const me = await h.users.getMe({}, h.bearer(u.accessToken));
  assert.equal(
    [me.user?.firstName, me.user?.email, me.user?.bio, me.user?.timeZone],
    ["Ada", u.email, "", ""],
  );
});

test("changing the e-mail marks it unverified and sends a PIN to the new address", async ({ h }) => {
  const u = await h.register();
  const pin = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  await h.auth.verifyEmail({ pin }, h.bearer(u.accessToken));
  const res = await h.users.updateMe(
    { user: { email: "Renamed@Example.com" }, updateMask: { paths: ["email"] }, password: u.password },
    h.bearer(u.accessToken),
  );
  assert.is(res.user?.email, "renamed@example.com");
  assert.is(res.user?.emailVerified, false);
  assert.ok(h.lastMail("ACCOUNT_PIN", "renamed@example.com"));
  // The old address is warned, and sees the new one masked.
  const warning = h.lastMail("EMAIL_CHANGED", u.email);
  assert.equal(warning?.data, { first_name: "Ada", new_email: "r***@example.com" });
  assert.not.ok(h.lastMail("EMAIL_CHANGED", "renamed@example.com"));
  // The same address again (in other case) changes nothing, needs no password and warns no one.
  await h.users.updateMe(
    { user: { email: "RENAMED@example.com" }, updateMask: { paths: ["email"] } },
    h.bearer(u.accessToken),
  );
  assert.not.ok(h.lastMail("EMAIL_CHANGED", "renamed@example.com"));
});

test("moving the account to another e-mail takes the owner's password, or a fresh Google sign-in", async ({
  h,
}) => {
  const u = await h.register();
  const auth = h.bearer(u.accessToken);
  const move = (proof: { password?: string; googleIdToken?: string }, to = `moved-${u.email}`) =>
    h.users.updateMe(
      { user: { email: to, bio: "moved" }, updateMask: { paths: ["email", "bio"] }, ...proof },
      auth,
    );
  const missing = await rejects(move({}), Code.InvalidArgument, "PASSWORD_REQUIRED");
  assert.equal(violatedFields(missing), ["password"]);
  const wrong = await rejects(move({ password: "not my password" }), Code.InvalidArgument, "WRONG_PASSWORD");
  assert.equal(violatedFields(wrong), ["password"]);
  await invalid(move({ password: "p".repeat(129) }), ["password"]);
  await invalid(move({ password: u.password, googleIdToken: "t".repeat(4097) }), ["google_id_token"]);
  const me = (await h.users.getMe({}, auth)).user!;
  assert.equal([me.email, me.bio], [u.email, ""], "a refused change changes nothing");
  assert.not.ok(h.lastMail("EMAIL_CHANGED", u.email), "and warns no one");
  assert.not.ok(h.lastMail("ACCOUNT_PIN", `moved-${u.email}`));
  // Other fields need no password.
  await h.users.updateMe({ user: { bio: "still here" }, updateMask: { paths: ["bio"] } }, auth);
  // Wrong passwords count toward the sign-in lock, as failed sign-ins do: the fifth locks it.
  for (const guess of ["guess 2", "guess 3", "guess 4"])
    await rejects(move({ password: guess }), Code.InvalidArgument, "WRONG_PASSWORD");
  await rejects(move({ password: "guess 5" }), Code.ResourceExhausted, "LOGIN_LOCKED");
  await rejects(move({ password: u.password }), Code.ResourceExhausted, "LOGIN_LOCKED");
  await rejects(
    h.auth.login({ email: u.email, password: u.password }),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );

  const v = await h.register();
  const moved = await h.users.updateMe(
    { user: { email: `moved-${v.email}` }, updateMask: { paths: ["email"] }, password: v.password },
    h.bearer(v.accessToken),
  );
  assert.is(moved.user?.email, `moved-${v.email}`);

  // An account without a password confirms with a Google ID token of its own Google account.
  const token = (uid: string, email: string) => h.google.idToken({ uid, email });
  const google = await h.auth.loginWithGoogle({
    idToken: await token("google-uid-move", "grace.move@example.com"),
  });
  const gAuth = h.bearer(google.session!.accessToken);
  const gMove = (googleIdToken: string) =>
    h.users.updateMe(
      {
        user: { email: "grace.moved@example.com" },
        updateMask: { paths: ["email"] },
        googleIdToken,
        password: "x",
      },
      gAuth,
    );
  for (const idToken of ["", "not.a.token", await token("someone-else", "other.move@example.com")]) {
    const e = await rejects(gMove(idToken), Code.InvalidArgument, "GOOGLE_REAUTH_REQUIRED");
    assert.equal(violatedFields(e), ["google_id_token"]);
  }
  assert.is((await h.users.getMe({}, gAuth)).user?.email, "grace.move@example.com");
  const gMoved = await gMove(await token("google-uid-move", "grace.move@example.com"));
  assert.is(gMoved.user?.email, "grace.moved@example.com");
});

test("maskEmail keeps the first letter and the domain", () => {
  assert.is(maskEmail("ada@example.com"), "a***@example.com");
  assert.is(maskEmail("a@b.c"), "a***@b.c");
  assert.is(maskEmail("@nodomain"), "***");
});

test("GetProfile shows public data only, private fields by choice; unknown users are NOT_FOUND", async ({
  h,
}) => {
  const u = await h.register();
  const viewer = await h.register();
  await h.users.updateMe({ user: { bio: "hello" }, updateMask: { paths: ["bio"] } }, h.bearer(u.accessToken));
  const hidden = await h.users.getProfile({ userId: u.userId }, h.bearer(viewer.accessToken));
  assert.is(hidden.profile?.bio, "hello");
  assert.is(hidden.profile?.email, "");
  assert.is(hidden.profile?.location, "London");
  await h.users.updateMe(
    { user: { privacy: { showEmail: true, showLocation: false } }, updateMask: { paths: ["privacy"] } },
    h.bearer(u.accessToken),
  );
  const shown = await h.users.getProfile({ userId: u.userId }, h.bearer(viewer.accessToken));
  assert.is(shown.profile?.email, u.email);
  assert.is(shown.profile?.location, "");
  await rejects(h.users.getProfile({ userId: randomUUID() }, h.bearer(viewer.accessToken)), Code.NotFound);
  await invalid(h.users.getProfile({ userId: "not-a-uuid" }, h.bearer(viewer.accessToken)), ["user_id"]);
  await rejects(h.users.getProfile({ userId: u.userId }), Code.Unauthenticated);
});

test("SearchUsers matches names, shown e-mails by prefix and hidden ones only in full, paginated", async ({
  h,
}) => {
  const me = await h.register();
  const tag = randomUUID().slice(0, 6);
  const zeldas = [];
  for (let i = 0; i < 5; i++) {
    zeldas.push(
      await h.register({ email: `zz${tag}${i}@example.com`, firstName: `Zelda${tag}`, lastName: `N${i}` }),
    );
  }
  await h.users.updateMe(
    { user: { privacy: { showEmail: true } }, updateMask: { paths: ["privacy"] } },
    h.bearer(zeldas[3]!.accessToken),
  );
  const seen: string[] = [];
  let pageToken = "";
  do {
    const page = await h.users.searchUsers(
      { query: `zelda${tag}`, pageSize: 2, pageToken },
      h.bearer(me.accessToken),
    );
    assert.ok(page.profiles.length <= 2);
    seen.push(...page.profiles.map((p) => p.lastName));
    pageToken = page.nextPageToken;
  } while (pageToken);
  assert.equal(seen, ["N0", "N1", "N2", "N3", "N4"]);
  const lastNames = async (query: string) =>
    (await h.users.searchUsers({ query }, h.bearer(me.accessToken))).profiles.map((p) => p.lastName);
  assert.equal(await lastNames(`zz${tag}3`), ["N3"], "a shown address, by prefix");
  assert.equal(await lastNames(`zz${tag}`), ["N3"], "hidden addresses are not found by prefix");
  assert.equal(await lastNames(`zz${tag}2@example.co`), []);
  assert.equal(await lastNames(` ZZ${tag}2@Example.com `), ["N2"], "a hidden address typed in full");
  const byFullName = await h.users.searchUsers({ query: `Zelda${tag} N4` }, h.bearer(me.accessToken));
  assert.equal(
    byFullName.profiles.map((p) => p.lastName),
    ["N4"],
  );
  const wildcard = await h.users.searchUsers({ query: "%%" }, h.bearer(me.accessToken));
  assert.equal(wildcard.profiles, []);
  await invalid(h.users.searchUsers({ query: "z" }, h.bearer(me.accessToken)), ["query"]);
  await invalid(h.users.searchUsers({ query: "zz", pageSize: 101 }, h.bearer(me.accessToken)), ["page_size"]);
  await rejects(
    h.users.searchUsers({ query: "zz", pageToken: "garbage!" }, h.bearer(me.accessToken)),
    Code.InvalidArgument,
    "PAGE_TOKEN",
  );
  await rejects(h.users.searchUsers({ query: "zz" }), Code.Unauthenticated);
});

test("SearchUsers pages through the longest names: each next_page_token is taken back", async ({ h }) => {
  const me = await h.register();
  const tag = randomUUID().slice(0, 6);
  // Names as long as the contract allows, of characters two bytes long in UTF-8: the page
  // token carries the last name of its page as its sort key.
  const firstName = `Ñandú${tag}${"á".repeat(100 - 5 - tag.length)}`;
  for (const i of [1, 2, 3]) {
    await h.register({ email: `long${tag}${i}@example.com`, firstName, lastName: `${i}${"é".repeat(99)}` });
  }
  const seen: string[] = [];
  let pageToken = "";
  do {
    const page = await h.users.searchUsers(
      { query: `ñandú${tag}`, pageSize: 1, pageToken },
      h.bearer(me.accessToken),
    );
    seen.push(...page.profiles.map((p) => p.lastName[0]!));
    pageToken = page.nextPageToken;
    assert.ok(pageToken.length <= MAX_PAGE_TOKEN_LENGTH, `${pageToken.length} characters`);
  } while (pageToken);
  assert.equal(seen, ["1", "2", "3"]);
});

test("UploadAvatar accepts png, jpeg and webp by content and replaces the old file", async ({ h }) => {
  const u = await h.register();
  /** The stored file behind an avatar URL (BLOB_PUBLIC_URL/<key> → BLOB_DIR/<key>). */
  const fileOf = (url: string) => join(h.blobDir, url.slice(url.indexOf("/avatars/") + 1));
  const first = await h.users.uploadAvatar({ content: TEST_PNG }, h.bearer(u.accessToken));
  assert.match(first.user!.avatarUrl, /\/avatars\/.+\.png$/);
  assert.equal(readFileSync(fileOf(first.user!.avatarUrl)), TEST_PNG);
  const second = await h.users.uploadAvatar({ content: TEST_JPEG }, h.bearer(u.accessToken));
  assert.match(second.user!.avatarUrl, /\.jpg$/);
  assert.not.ok(existsSync(fileOf(first.user!.avatarUrl)), "the replaced file is deleted");
  const third = await h.users.uploadAvatar({ content: TEST_WEBP }, h.bearer(u.accessToken));
  assert.match(third.user!.avatarUrl, /\.webp$/);
  assert.ok(existsSync(fileOf(third.user!.avatarUrl)));
  const cleared = await h.users.deleteAvatar({}, h.bearer(u.accessToken));
  assert.is(cleared.user?.avatarUrl, "");
  assert.not.ok(existsSync(fileOf(third.user!.avatarUrl)));
});

test("UploadAvatar several times at once keeps exactly one file: the avatar's", async ({ h }) => {
  const u = await h.register();
  const dir = join(h.blobDir, "avatars", u.userId);
  for (let round = 0; round < 3; round++) {
    await Promise.all(
      [TEST_PNG, TEST_JPEG, TEST_WEBP, TEST_PNG].map((content) =>
        h.users.uploadAvatar({ content }, h.bearer(u.accessToken)),
      ),
    );
    const { avatarUrl } = (await h.users.getMe({}, h.bearer(u.accessToken))).user!;
    assert.equal(readdirSync(dir), [avatarUrl.slice(avatarUrl.lastIndexOf("/") + 1)], `round ${round}`);
  }
  await Promise.all([
    h.users.deleteAvatar({}, h.bearer(u.accessToken)),
    h.users.uploadAvatar({ content: TEST_PNG }, h.bearer(u.accessToken)),
  ]);
  const { avatarUrl } = (await h.users.getMe({}, h.bearer(u.accessToken))).user!;
  assert.equal(readdirSync(dir), avatarUrl ? [avatarUrl.slice(avatarUrl.lastIndexOf("/") + 1)] : []);
});

test("UploadAvatar refuses other content, damaged images, empty files and files over 10 MB", async ({
  h,
}) => {
  const u = await h.register();
  await rejects(
    h.users.uploadAvatar(
      { content: Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>") },
      h.bearer(u.accessToken),
    ),
    Code.InvalidArgument,
    "IMAGE_TYPE",
  );
  await rejects(
    h.users.uploadAvatar({ content: TEST_PNG.subarray(0, TEST_PNG.length - 12) }, h.bearer(u.accessToken)),
    Code.InvalidArgument,
    "IMAGE_TYPE",
  );
  await invalid(h.users.uploadAvatar({ content: new Uint8Array() }, h.bearer(u.accessToken)), ["content"]);
  const big = Buffer.concat([TEST_PNG, Buffer.alloc(10 * 1024 * 1024)]);
  await invalid(h.users.uploadAvatar({ content: big }, h.bearer(u.accessToken)), ["content"]);
  await rejects(h.users.uploadAvatar({ content: TEST_PNG }), Code.Unauthenticated);
  assert.is((await h.users.getMe({}, h.bearer(u.accessToken))).user?.avatarUrl, "");
});

test("DeleteAvatar requires a user", async ({ h }) => {
  await rejects(h.users.deleteAvatar({}), Code.Unauthenticated);
  await rejects(h.users.deleteAvatar({}, h.bearer(await h.adminToken())), Code.PermissionDenied);
});

test("BatchGetProfiles keeps request order, skips unknown ids; for users and services", async ({ h }) => {
  const a = await h.register();
  const b = await h.register();
  const res = await h.users.batchGetProfiles({ userIds: [b.userId, randomUUID(), a.userId] }, h.service);
  assert.equal(
    res.profiles.map((p) => p.id),
    [b.userId, a.userId],
  );
  const asUser = await h.users.batchGetProfiles({ userIds: [a.userId] }, h.bearer(b.accessToken));
  assert.is(asUser.profiles[0]?.email, "");
  await invalid(h.users.batchGetProfiles({ userIds: [] }, h.service), ["user_ids"]);
  await invalid(h.users.batchGetProfiles({ userIds: [a.userId, a.userId] }, h.service), ["user_ids"]);
  await invalid(h.users.batchGetProfiles({ userIds: ["nope"] }, h.service), ["user_ids[0]"]);
  await rejects(h.users.batchGetProfiles({ userIds: [a.userId] }), Code.Unauthenticated);
  await rejects(
    h.users.batchGetProfiles({ userIds: [a.userId] }, h.bearer(await h.adminToken())),
    Code.PermissionDenied,
  );
});

test.run();

const s3 = suite<{ h: UsersHarness; host: LoopbackS3 }>("users: avatars in an S3 bucket (BLOB_STORE=s3)");
s3.before(async (ctx) => {
  ctx.host = await startLoopbackS3();
  ctx.h = await startUsersHarness({
    env: {
      BLOB_STORE: "s3",
      S3_BUCKET: ctx.host.bucket,
      S3_REGION: ctx.host.region,
      S3_ENDPOINT: ctx.host.endpoint,
      S3_FORCE_PATH_STYLE: "true",
      S3_ACCESS_KEY_ID: ctx.host.credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: ctx.host.credentials.secretAccessKey,
      BLOB_PUBLIC_URL: "https://project.supabase.co/storage/v1/object/public/classconnect-files",
    },
  });
});
s3.after(async (ctx) => {
  await ctx.h.close();
  await ctx.host.close();
});

s3(
  "UploadAvatar stores the image in the bucket with its type, replaces it, DeleteAvatar removes it",
  async ({ h, host }) => {
    const u = await h.register();
    const base = "https://project.supabase.co/storage/v1/object/public/classconnect-files/";
    const keyOf = (url: string) => {
      assert.ok(url.startsWith(base), url);
      return url.slice(base.length);
    };
    const first = (await h.users.uploadAvatar({ content: TEST_PNG }, h.bearer(u.accessToken))).user!;
    const firstKey = keyOf(first.avatarUrl);
    assert.ok(firstKey.startsWith(`avatars/${u.userId}/`));
    assert.equal(host.objects.get(firstKey)?.body, TEST_PNG);
    assert.is(host.objects.get(firstKey)?.contentType, "image/png");
    const second = (await h.users.uploadAvatar({ content: TEST_JPEG }, h.bearer(u.accessToken))).user!;
    assert.is(host.objects.get(keyOf(second.avatarUrl))?.contentType, "image/jpeg");
    assert.not.ok(host.objects.has(firstKey), "the replaced image is deleted");
    await h.users.deleteAvatar({}, h.bearer(u.accessToken));
    assert.not.ok(host.objects.has(keyOf(second.avatarUrl)));
    assert.equal(host.refused, []);
  },
);

s3.run();
