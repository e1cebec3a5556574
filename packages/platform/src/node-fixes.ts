/**
 * Fixes for costs in Node itself that every ClassConnect process would otherwise pay,
 * installed once at startup by `runProcess`. Each keeps Node's observable behaviour.
 */
import { AsyncResource } from "node:async_hooks";
import { deprecate } from "node:util";

const resourceOf = Symbol("asyncResource");
const deprecation = "The asyncResource property on bound functions is deprecated";

/** The one accessor pair every bound function shares: the resource lives on the function. */
type Bound = ((...args: unknown[]) => unknown) & { [resourceOf]: AsyncResource };
const getResource = deprecate(
  function (this: Bound) {
    return this[resourceOf];
  },
  deprecation,
  "DEP0172",
);
const setResource = deprecate(
  function (this: Bound, value: AsyncResource) {
    this[resourceOf] = value;
  },
  deprecation,
  "DEP0172",
);

const accessor: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get: getResource,
  set: setResource,
};

/** True when each `bind` gives its function accessors of its own (Node 20). */
function bindMakesAccessors(): boolean {
  const probe = new AsyncResource("classconnect.probe", { requireManualDestroy: true });
  const getterOf = () =>
    Object.getOwnPropertyDescriptor(
      probe.bind(() => {}),
      "asyncResource",
    )?.get;
  const first = getterOf();
  return first !== undefined && first !== getterOf();
}

/**
 * Node 20's `AsyncResource#bind` gives every bound function a deprecated `asyncResource`
 * accessor made of two new `util.deprecate` wrappers, and `deprecate` changes each wrapper's
 * prototype, which V8 pays for well beyond the call (nodejs/node#58218; Node 24 stopped
 * changing the prototype, #59195). `node:http2` binds one function in every
 * `session.request()`, so every call a process makes to another paid it: the gateway spent
 * 14 % less CPU per forwarded call without it (bench/README.md, Node's own costs).
 *
 * This `bind` does what Node 20's does (the function runs in the resource's async scope,
 * keeps `fn.length`, and its `asyncResource` accessor still warns with DEP0172), with one
 * shared getter and setter: about 0.2 µs per call against Node's 9.5 (warm, alone).
 * Installed only where `bind` makes accessors per call.
 * Returns whether it was installed.
 */
export function fixAsyncResourceBind(): boolean {
  if (!bindMakesAccessors()) return false;
  type AnyFunction = (...args: unknown[]) => unknown;
  const proto = AsyncResource.prototype as unknown as { bind(fn: unknown, thisArg?: unknown): AnyFunction };
  const nodeBind = proto.bind;
  proto.bind = function bind(this: AsyncResource, fn: unknown, thisArg?: unknown) {
    // Node's own argument check and error.
    if (typeof fn !== "function") return nodeBind.call(this, fn, thisArg);
    let bound: AnyFunction;
    if (thisArg === undefined) {
      const resource = this;
      bound = function (this: unknown, ...args: unknown[]) {
        args.unshift(fn, this);
        return Reflect.apply(resource.runInAsyncScope, resource, args);
      };
    } else {
      bound = (this.runInAsyncScope as AnyFunction).bind(this, fn, thisArg);
    }
    // Both forms are 0 long by themselves; a descriptor per call costs more than the rest of bind.
    if (fn.length !== 0) {
      Object.defineProperty(bound, "length", {
        configurable: true,
        enumerable: false,
        value: fn.length,
        writable: false,
      });
    }
    Object.defineProperty(bound, "asyncResource", accessor);
    (bound as Bound)[resourceOf] = this;
    return bound;
  };
  return true;
}

/** Installs every fix this Node needs; once per process, before any connection opens. */
export function installNodeFixes(): void {
  fixAsyncResourceBind();
}
