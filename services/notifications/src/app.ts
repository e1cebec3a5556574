/**
 * Builds the notifications service: its store (PostgreSQL, or MongoDB when
 * configured), the e-mail and push channels (Brevo and FCM, or local
 * recorders), the directory of recipients, the dispatcher, and the handlers.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import {
  createLogger,
  type KeySource,
  type Logger,
  observeGauges,
  type RunningService,
  startPeriodicTask,
  startService,
} from "@classconnect/platform";
import type { NotificationsConfig } from "./config.js";
import { createDispatcher, defaultRetryPolicy, type RetryPolicy } from "./domain/dispatcher.js";
import { createDeliveryLogService, createDispatchService, createNotificationService } from "./handlers.js";
import { createDirectory, type Directory } from "./ports/directory.js";
import { createBrevoSender, createMailbox, type EmailSender } from "./ports/email.js";
import { fcmSenderFromConfig } from "./ports/fcm.js";
import { createPushRecorder, type PushSender } from "./ports/push.js";
import { createMongoNotificationsStore } from "./store/mongo-store.js";
import { createPostgresNotificationsStore } from "./store/postgres-store.js";
import { Channel, type NotificationsStore } from "./store/store.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

/** Replaceable parts, for tests. */
export interface NotificationsOverrides {
  logger?: Logger;
  adminKeys?: KeySource;
  email?: EmailSender;
  push?: PushSender;
  directory?: Directory;
  retry?: Partial<RetryPolicy>;
}

export interface NotificationsServer extends RunningService {
  email: EmailSender;
  push: PushSender;
  /** Deletes what NOTIFICATIONS_RETENTION_DAYS no longer keeps (hourly on its own); 0 when unset. */
  pruneOld(): Promise<number>;
}

const PRUNE_EVERY_MS = 3_600_000;

export async function startNotificationsServer(
  config: NotificationsConfig,
  overrides: NotificationsOverrides = {},
): Promise<NotificationsServer> {
  const logger = overrides.logger ?? createLogger("notifications", config.logLevel);
  const email =
    overrides.email ??
    (config.brevoApiKey
      ? createBrevoSender({
          apiKey: config.brevoApiKey,
          sender: { email: config.mailFrom, name: config.mailFromName },
          ...(config.brevoBaseUrl ? { baseUrl: config.brevoBaseUrl } : {}),
        })
      : createMailbox(logger, config.mailDir));
  const fcm = overrides.push ? undefined : fcmSenderFromConfig(config);
  const push = overrides.push ?? fcm ?? createPushRecorder(logger);
  let pruneOld = async () => 0;
  const server = await startService({
    name: "notifications",
    config,
    logger,
    migrations: migrationsDir,
    async setup(sql) {
      const store =
        config.store === "mongodb"
          ? await createMongoNotificationsStore(config.mongodbUrl!, config.mongodbDatabase)
          : createPostgresNotificationsStore(sql);
      const directory =
        overrides.directory ??
        createDirectory({
          usersUrl: config.usersServiceUrl,
          coursesUrl: config.coursesServiceUrl,
          serviceToken: config.serviceToken,
        });
      const dispatcher = createDispatcher({
        store,
        directory,
        email,
        push,
        logger,
        retry: {
          ...defaultRetryPolicy,
          baseDelayMs: config.retryBaseMs,
          maxAttempts: config.retryMaxAttempts,
          leaseMs: config.leaseMs,
          ...overrides.retry,
        },
      });
      dispatcher.start();
      const unobserve = observeBacklog(store);
      const { retentionDays } = config;
      if (retentionDays !== undefined) {
        pruneOld = () => store.pruneBefore(new Date(Date.now() - retentionDays * 86_400_000));
      }
      const janitor =
        retentionDays === undefined
          ? undefined
          : startPeriodicTask({
              name: "notifications retention",
              everyMs: PRUNE_EVERY_MS,
              logger,
              run: pruneOld,
            });
      return {
        ...(overrides.adminKeys ? { adminKeys: overrides.adminKeys } : {}),
        routes(router) {
          router.service(NotificationService, createNotificationService(store, directory));
          router.service(DispatchService, createDispatchService(store, dispatcher));
          router.service(DeliveryLogService, createDeliveryLogService(store));
        },
        async onClose() {
          unobserve();
          await janitor?.stop();
          await dispatcher.stop();
          await store.close();
          await fcm?.close();
        },
      };
    },
  });
  return { ...server, email, push, pruneOld: () => pruneOld() };
}

const channelNames = Object.fromEntries(Object.entries(Channel).map(([name, n]) => [n, name.toLowerCase()]));

/**
 * Gauges of the work not done yet, for alerts (a provider or the service down shows as a
 * growing backlog and an old oldest item), read from the store when metrics are scraped.
 */
function observeBacklog(store: NotificationsStore): () => void {
  return observeGauges(
    () => store.backlog(),
    [
      {
        name: "notification_events_pending",
        description: "Events accepted and not yet expanded into deliveries",
        values: (b) => [{ value: b.events.count }],
      },
      {
        name: "notification_deliveries_pending",
        description: "Deliveries waiting or being sent, by channel",
        values: (b) =>
          Object.values(Channel).map((channel) => ({
            value: b.deliveries.find((d) => d.channel === channel)?.count ?? 0,
            attributes: { channel: channelNames[channel]! },
          })),
      },
      {
        name: "notification_oldest_pending_seconds",
        description: "Age of the oldest event or delivery not done yet (0 when none)",
        values: (b) => {
          const times = [b.events.oldest, ...b.deliveries.map((d) => d.oldest)].filter(
            (t) => t !== undefined,
          );
          const oldest = Math.min(...times.map((t) => t.getTime()));
          return [{ value: times.length > 0 ? (Date.now() - oldest) / 1000 : 0 }];
        },
      },
    ],
  );
}
