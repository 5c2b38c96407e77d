import Synchronization

/// Counters and a duration histogram for `/metrics`, safe to update from any task.
public final class PoolMetrics: Sendable {
    /// Upper bounds (seconds) of the run-duration histogram buckets; +Inf is implied.
    public static let durationBuckets: [Double] = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800]

    public struct Snapshot: Sendable, Equatable {
        public var runsByStatus: [RunStatus: Int] = [:]
        public var rejected = 0
        public var busy = 0
        /// Cumulative counts per bucket of `durationBuckets`, then the +Inf count.
        public var durationCounts: [Int] = Array(repeating: 0, count: PoolMetrics.durationBuckets.count + 1)
        public var durationSum = 0.0
        public var durationCount = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    /// Records a finished (or refused) run; `durationMs` is nil for a run that never started, which is
    /// counted but not timed.
    public func record(_ status: RunStatus, durationMs: Int?) {
        state.withLock { s in
            s.runsByStatus[status, default: 0] += 1
            if status == .rejected { s.rejected += 1 }
            if status == .poolBusy { s.busy += 1 }
            guard let durationMs, status != .rejected, status != .poolBusy, status != .poolDraining else { return }
            let seconds = Double(durationMs) / 1000
            for (i, bound) in PoolMetrics.durationBuckets.enumerated() where seconds <= bound { s.durationCounts[i] += 1 }
            s.durationCounts[PoolMetrics.durationBuckets.count] += 1
            s.durationSum += seconds
            s.durationCount += 1
        }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Prometheus text exposition (version 0.0.4) of these counters plus the slot gauges.
    public func prometheusText(slots: Int, busySlots: Int, draining: Bool, extra: [String] = []) -> String {
        let s = snapshot
        var lines: [String] = []
        lines.append("# HELP super_agent_slots_total Run slots on this pod.")
        lines.append("# TYPE super_agent_slots_total gauge")
        lines.append("super_agent_slots_total \(slots)")
        lines.append("# HELP super_agent_slots_busy Run slots in use on this pod.")
        lines.append("# TYPE super_agent_slots_busy gauge")
        lines.append("super_agent_slots_busy \(busySlots)")
        lines.append("# HELP super_agent_draining 1 while the pod refuses new runs before shutting down.")
        lines.append("# TYPE super_agent_draining gauge")
        lines.append("super_agent_draining \(draining ? 1 : 0)")
        lines.append("# HELP super_agent_runs_total Runs answered, by final status.")
        lines.append("# TYPE super_agent_runs_total counter")
        for status in RunStatus.allCases where status != .running {
            lines.append("super_agent_runs_total{status=\"\(status.rawValue)\"} \(s.runsByStatus[status] ?? 0)")
        }
        lines.append("# HELP super_agent_runs_rejected_total Runs refused by validation or the path sanitizer.")
        lines.append("# TYPE super_agent_runs_rejected_total counter")
        lines.append("super_agent_runs_rejected_total \(s.rejected)")
        lines.append("# HELP super_agent_runs_busy_total Runs refused with POOL_BUSY because every slot was taken.")
        lines.append("# TYPE super_agent_runs_busy_total counter")
        lines.append("super_agent_runs_busy_total \(s.busy)")
        lines.append("# HELP super_agent_run_duration_seconds Wall time of runs that started.")
        lines.append("# TYPE super_agent_run_duration_seconds histogram")
        for (i, bound) in PoolMetrics.durationBuckets.enumerated() {
            lines.append("super_agent_run_duration_seconds_bucket{le=\"\(formatBound(bound))\"} \(s.durationCounts[i])")
        }
        lines.append("super_agent_run_duration_seconds_bucket{le=\"+Inf\"} \(s.durationCounts[PoolMetrics.durationBuckets.count])")
        lines.append("super_agent_run_duration_seconds_sum \(s.durationSum)")
        lines.append("super_agent_run_duration_seconds_count \(s.durationCount)")
        lines.append(contentsOf: extra)
        return lines.joined(separator: "\n") + "\n"
    }

    private func formatBound(_ b: Double) -> String {
        b == b.rounded() ? String(Int(b)) : String(b)
    }
}
