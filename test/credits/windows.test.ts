// The UTC windows a key's spend cap resets on: days at 00:00 UTC, weeks on Monday 00:00 UTC
// (ISO 8601), months on the 1st at 00:00 UTC; exact to the millisecond on each boundary.

import { describe, expect, test } from "bun:test";
import { startOfUtcDay, startOfUtcMonth, startOfUtcWeek, windowStart } from "../../src/credits/windows";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe("daily windows", () => {
  test("a day runs from 00:00:00.000 to 23:59:59.999 UTC", () => {
    expect(iso(startOfUtcDay(at("2027-03-07T23:59:59.999Z")))).toBe("2027-03-07T00:00:00.000Z");
    expect(iso(startOfUtcDay(at("2027-03-08T00:00:00.000Z")))).toBe("2027-03-08T00:00:00.000Z");
    expect(iso(windowStart("daily", at("2027-03-08T12:34:56.789Z")))).toBe("2027-03-08T00:00:00.000Z");
  });

  test("a local midnight elsewhere is not a boundary: 23:30 in UTC−05:00 is the next UTC day", () => {
    expect(iso(startOfUtcDay(at("2027-03-07T23:30:00-05:00")))).toBe("2027-03-08T00:00:00.000Z");
  });
});

describe("weekly windows start on Monday 00:00 UTC", () => {
  test("Sunday 23:59:59.999 belongs to the week that began the Monday before; Monday 00:00 starts a new one", () => {
    expect(iso(startOfUtcWeek(at("2027-03-07T23:59:59.999Z")))).toBe("2027-03-01T00:00:00.000Z"); // Sunday
    expect(iso(startOfUtcWeek(at("2027-03-08T00:00:00.000Z")))).toBe("2027-03-08T00:00:00.000Z"); // Monday
    expect(iso(startOfUtcWeek(at("2027-03-08T00:00:00.001Z")))).toBe("2027-03-08T00:00:00.000Z");
  });

  test("every weekday of one week maps to the same Monday", () => {
    for (let day = 0; day < 7; day++) {
      const t = at("2027-03-01T00:00:00.000Z") + day * 86_400_000 + 43_200_000;
      expect(iso(windowStart("weekly", t))).toBe("2027-03-01T00:00:00.000Z");
    }
  });

  test("a week that spans the new year starts in December", () => {
    expect(iso(startOfUtcWeek(at("2027-01-03T23:59:59.999Z")))).toBe("2026-12-28T00:00:00.000Z");
    expect(iso(startOfUtcWeek(at("2027-01-04T00:00:00.000Z")))).toBe("2027-01-04T00:00:00.000Z");
  });
});

describe("monthly windows start on the 1st at 00:00 UTC", () => {
  test("the last millisecond of a month and the first of the next", () => {
    expect(iso(startOfUtcMonth(at("2027-01-31T23:59:59.999Z")))).toBe("2027-01-01T00:00:00.000Z");
    expect(iso(startOfUtcMonth(at("2027-02-01T00:00:00.000Z")))).toBe("2027-02-01T00:00:00.000Z");
  });

  test("February in common and leap years; months of 30 days; the year boundary", () => {
    expect(iso(windowStart("monthly", at("2027-02-28T23:59:59.999Z")))).toBe("2027-02-01T00:00:00.000Z");
    expect(iso(windowStart("monthly", at("2027-03-01T00:00:00.000Z")))).toBe("2027-03-01T00:00:00.000Z");
    expect(iso(windowStart("monthly", at("2028-02-29T23:59:59.999Z")))).toBe("2028-02-01T00:00:00.000Z");
    expect(iso(windowStart("monthly", at("2027-04-30T23:59:59.999Z")))).toBe("2027-04-01T00:00:00.000Z");
    expect(iso(windowStart("monthly", at("2026-12-31T23:59:59.999Z")))).toBe("2026-12-01T00:00:00.000Z");
    expect(iso(windowStart("monthly", at("2027-01-01T00:00:00.000Z")))).toBe("2027-01-01T00:00:00.000Z");
  });
});

describe("windows and the hourly rollups they are summed from", () => {
  test("a cap without reset counts from the beginning of time", () => {
    expect(windowStart(null, at("2027-03-08T12:00:00Z"))).toBe(0);
  });

  test("every window starts on an hour boundary, so summing whole rollup hours is exact", () => {
    for (const reset of ["daily", "weekly", "monthly"] as const) {
      const start = windowStart(reset, at("2027-05-19T17:45:12.345Z"));
      expect(start % 3_600_000).toBe(0);
    }
  });
});
