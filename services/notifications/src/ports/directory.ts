import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { createServiceTransport } from "@classconnect/platform";
import { createClient } from "@connectrpc/connect";

export interface Contact {
  userId: string;
  email: string;
  firstName: string;
  optIn: boolean;
  active: boolean;
  /** IANA time zone for the times in notices; "" or unset for UTC. */
  timeZone?: string;
  /** The owner confirmed the address: notices go there by e-mail only then. */
  emailVerified: boolean;
}

/** Who receives what: the users service (contacts, everyone) and the courses service (a course's students). */
export interface Directory {
  contacts(userIds: string[]): Promise<Contact[]>;
  /** Every user, page by page. */
  allUsers(): AsyncIterable<string[]>;
  /** A course's students, page by page. */
  courseStudents(courseId: string): AsyncIterable<string[]>;
}

export function createDirectory(options: {
  usersUrl: string;
  coursesUrl: string;
  serviceToken: string;
}): Directory {
  const users = createClient(
    UserAdminService,
    createServiceTransport(options.usersUrl, { serviceToken: options.serviceToken }),
  );
  const courses = createClient(
    EnrollmentService,
    createServiceTransport(options.coursesUrl, { serviceToken: options.serviceToken }),
  );
  return {
    async contacts(userIds) {
      const out: Contact[] = [];
      for (let i = 0; i < userIds.length; i += 1000) {
        const res = await users.listContacts({ userIds: userIds.slice(i, i + 1000) });
        for (const c of res.contacts) {
          out.push({
            userId: c.userId,
            email: c.email,
            firstName: c.firstName,
            optIn: c.notificationsOptIn,
            active: c.active,
            timeZone: c.timeZone,
            emailVerified: c.emailVerified,
          });
        }
      }
      return out;
    },
    async *allUsers() {
      let pageToken = "";
      do {
        const res = await users.listContacts({ pageSize: 1000, pageToken });
        yield res.contacts.map((c) => c.userId);
        pageToken = res.nextPageToken;
      } while (pageToken);
    },
    async *courseStudents(courseId) {
      let pageToken = "";
      do {
        const res = await courses.listEnrolledStudentIds({ courseId, pageSize: 1000, pageToken });
        yield res.studentIds;
        pageToken = res.nextPageToken;
      } while (pageToken);
    },
  };
}
