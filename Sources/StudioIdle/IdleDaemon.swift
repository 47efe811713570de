#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import StudioClient
import StudioCore
import StudioSystemd
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// studio-idled's work: reads the journal back to rebuild what it knew, then follows it; every check it reads each
/// running workspace's CPU time, asks the broker to stop the idle ones, and publishes what it knows for `status`.
///
/// Its whole state is an ``IdleLedger`` made from the journal: nothing is stored anywhere else, so a restart
/// rebuilds the same deadlines.
final class IdleDaemon: Sendable {
    struct Settings: Sendable {
        /// How often workspaces are measured and deadlines checked.
        var checkInterval: Double = 5
        /// The list of running workspaces is read again at least this often (and at once after a lifecycle entry).
        var refreshInterval: Double = 60
        /// After a failed stop, wait this long before asking again.
        var stopRetry: Double = 30
        var reportPath = Paths.idleReport
        var configFile = Paths.configFile
        var configDropIns = Paths.configDropInDirectory
    }

    enum Event: Sendable {
        case entries([JournalEntry])
        case tick
    }

    let settings: Settings
    let broker: BrokerConnection
    let logger: Logger
    let ledger: Mutex<IdleLedger>
    /// Per unit, how its CPU was last read.
    let measures = Mutex<[String: CgroupCounters.CPUMeasure]>([:])
    /// Units with a stop under way or failed recently (unit → when it may be tried again).
    let stopping = Mutex<[String: Double]>([:])
    let busyCPU = Mutex<Double>(BusyMeter.defaultThreshold)
    /// `[Idle] CPUMeasure=processes`.
    let processesOnly = Atomic<Bool>(false)
    /// Entries that named a workspace not (yet) known as running with that main process: tried again after the
    /// next reading of the list.
    let pending = Mutex<[JournalEntry]>([])
    let lastRefresh = Mutex<Double>(0)
    let refreshWanted = Atomic<Bool>(false)

    init(settings: Settings = Settings(), broker: BrokerConnection = BrokerConnection(), logger: Logger) {
        self.settings = settings
        self.broker = broker
        self.logger = logger
        ledger = Mutex(IdleLedger(studioUID: UserAccount.named("studio")?.uid, idledUID: getuid()))
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    /// Rebuilds from the journal, then follows it until cancelled.
    func run() async throws {
        try await refresh(force: true)
        let reader = try JournalReader()
        for event in IdleLedger.followedEvents { try reader.addMatch(ActivityRecord.eventField, event) }
        let starts = ledger.withLock { $0.workspaces.values.map(\.running.startedAt) }
        if let earliest = starts.min() {
            try reader.seek(realtimeMicroseconds: UInt64(max(0, earliest) * 1_000_000))
            var replayed = 0
            while let entry = try reader.next() {
                let time = Double(entry.realtimeMicroseconds) / 1_000_000
                _ = ledger.withLock { $0.ingest(entry.fields, time: time, replaying: true) }
                replayed += 1
            }
            let now = Self.now()
            ledger.withLock { $0.finishReplay(now: now) }
            logger.info("read the journal back: \(replayed) entries since \(Self.format(earliest)) for \(starts.count) running workspaces", metadata: [
                "replayed_entries": "\(replayed)",
            ])
        } else {
            try reader.seekTail()
            logger.info("no workspace is running; following the journal from now")
        }
        check(now: Self.now())
        try publish()
        ServiceNotifier.ready(status: "watching \(starts.count) running workspaces")

        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let follower = JournalThread(reader: reader, continuation: continuation)
        follower.start()
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(settings.checkInterval))
                continuation.yield(.tick)
            }
        }
        defer {
            ticker.cancel()
            follower.stop()
        }
        await withTaskCancellationHandler {
            for await event in events {
                switch event {
                case .entries(let entries): await take(entries)
                case .tick: await tick()
                }
            }
        } onCancel: {
            continuation.finish()
        }
        if !Task.isCancelled { throw JournalThread.Failure.ended }
    }

    /// Learns from new journal entries.
    func take(_ entries: [JournalEntry]) async {
        var unverified: [JournalEntry] = []
        for entry in entries {
            let time = Double(entry.realtimeMicroseconds) / 1_000_000
            switch ledger.withLock({ $0.ingest(entry.fields, time: time) }) {
            case .lifecycle(let owner?, let name?):
                // Read that workspace's new state before the next entry counts: a keep or a record that follows a
                // restart belongs to the new run.
                await refresh(owner: owner, name: name)
                unverified = retry(unverified)
            case .lifecycle: refreshWanted.store(true, ordering: .relaxed)
            case .unverified: unverified.append(entry)
            case .ignored(let why) where entry[ActivityRecord.eventField] == ActivityRecord.event:
                reportIgnored(entry, why: why)
            default: break
            }
        }
        if !unverified.isEmpty {
            pending.withLock { $0 += unverified }
            refreshWanted.store(true, ordering: .relaxed)
        }
        if refreshWanted.load(ordering: .relaxed) { try? await refresh(force: false) }
    }

    /// One check: read the list again when due, measure, stop the idle, publish.
    func tick() async {
        do {
            try await refresh(force: false)
        } catch {
            logger.warning("cannot read the workspaces from the broker: \(error)")
        }
        let now = Self.now()
        measure(now: now)
        for stop in check(now: now) { await self.stop(stop, now: now) }
        do {
            try publish()
        } catch {
            logger.warning("cannot publish the idle report: \(error)")
        }
    }

    /// Reads one workspace's state from the broker (after the broker changed it).
    func refresh(owner: String, name: String) async {
        do {
            let info = try await broker.call(.status, WorkspaceTarget(owner: owner, name: name), as: WorkspaceInfo.self)
            let running = Self.running(info)
            ledger.withLock { $0.update(unit: info.unit, running: running) }
            if let group = info.unitStatus?.controlGroup { controlGroups.withLock { $0[info.unit] = group } }
            if running == nil { stopping.withLock { $0[info.unit] = nil } }
        } catch let error as RequestError where error.code == .notFound {
            // Deleted (or the owner is gone): the next reading of the list forgets it.
            refreshWanted.store(true, ordering: .relaxed)
        } catch {
            logger.warning("cannot read \(owner)/\(name) from the broker: \(error)")
            refreshWanted.store(true, ordering: .relaxed)
        }
    }

    /// Tries entries that could not be verified again; those still unverified are returned.
    func retry(_ entries: [JournalEntry]) -> [JournalEntry] {
        entries.filter { entry in
            let time = Double(entry.realtimeMicroseconds) / 1_000_000
            if case .unverified = ledger.withLock({ $0.ingest(entry.fields, time: time) }) { return true }
            return false
        }
    }

    static func running(_ info: WorkspaceInfo) -> IdleLedger.Running? {
        guard info.state == "running", let status = info.unitStatus, let started = status.activeEnterRealtimeMicroseconds else { return nil }
        return IdleLedger.Running(
            owner: info.definition.identity.owner, name: info.definition.identity.name.rawValue, unit: info.unit,
            timeoutSeconds: info.idleTimeoutSeconds, startedAt: Double(started) / 1_000_000,
            // The agent: the unit's main process on the host backend, nspawn's child (PID 1 inside) in a container.
            mainPID: info.agentPID ?? status.mainPID)
    }

    /// Reads the running workspaces from the broker (when asked, due, or forced), then tries the pending entries.
    func refresh(force: Bool) async throws {
        let now = Self.now()
        let due = now - lastRefresh.withLock { $0 } >= settings.refreshInterval
        // At most once a second however many lifecycle entries arrive (200 workspaces starting at once).
        let recent = now - lastRefresh.withLock { $0 } < 1
        guard force || due || (refreshWanted.load(ordering: .relaxed) && !recent) else { return }
        refreshWanted.store(false, ordering: .relaxed)
        lastRefresh.withLock { $0 = now }
        let list = try await broker.call(.list, ListParams(all: true), as: WorkspaceList.self)
        let running = list.workspaces.compactMap(Self.running)
        let groups = Dictionary(list.workspaces.compactMap { info in info.unitStatus?.controlGroup.map { (info.unit, $0) } }) { a, _ in a }
        controlGroups.withLock { $0 = groups }
        let config = StudioConfig.loadOrDefaults(file: settings.configFile, dropInDirectory: settings.configDropIns)
        busyCPU.withLock { $0 = config.0.busyCPU }
        processesOnly.store(config.0.cpuMeasure == "processes", ordering: .relaxed)
        if let error = config.1 { logger.warning("the configuration is broken, using [Idle] defaults: \(error)") }
        ledger.withLock { $0.update(running: running) }
        stopping.withLock { stopping in
            let runningUnits = Set(running.map(\.unit))
            stopping = stopping.filter { runningUnits.contains($0.key) }
        }
        let retry = pending.withLock { pending in
            defer { pending = [] }
            return pending
        }
        for entry in self.retry(retry) {
            reportIgnored(entry, why: "not written by the main process of a running workspace's unit")
        }
    }

    let controlGroups = Mutex<[String: String]>([:])
    /// Per sender (unit and uid): when an ignored record was last logged, and how many were ignored since.
    let ignoredLog = Mutex<[String: (at: Double, count: Int)]>([:])

    /// Says that an activity record was not believed, and from whom; at most once a minute per sender, with the count,
    /// so that a flood of forged records does not become a flood of studio-idled's own.
    func reportIgnored(_ entry: JournalEntry, why: String) {
        let sender = "\(entry["_SYSTEMD_UNIT"] ?? "-") \(entry["_UID"] ?? "-")"
        let now = Self.now()
        let count: Int? = ignoredLog.withLock { log in
            if log.count > 1024 { log = [:] }
            var record = log[sender] ?? (at: 0, count: 0)
            record.count += 1
            defer { log[sender] = record }
            guard now - record.at >= 60 else { return nil }
            let count = record.count
            record = (at: now, count: 0)
            return count
        }
        guard let count else { return }
        logger.notice("ignored an activity record: \(why)\(count > 1 ? " (\(count) from this sender since the last report)" : "")", metadata: [
            "ignored_unit": "\(entry["_SYSTEMD_UNIT"] ?? "-")", "ignored_uid": "\(entry["_UID"] ?? "-")",
            "ignored_pid": "\(entry["_PID"] ?? "-")", "ignored_count": "\(count)",
        ])
    }

    /// Reads each running workspace's CPU time and records when work begins or ends (so that a restart knows).
    func measure(now: Double) {
        let groups = controlGroups.withLock { $0 }
        let threshold = busyCPU.withLock { $0 }
        let units = ledger.withLock { Array($0.workspaces.keys) }
        for unit in units {
            let processesOnly = processesOnly.load(ordering: .relaxed)
            let usage = groups[unit].flatMap { CgroupCounters.cpuUsage(controlGroup: $0, processesOnly: processesOnly) }
            if let usage { measures.withLock { $0[unit] = usage.measure } }
            let change = ledger.withLock { $0.sample(unit: unit, time: now, cpuNanoseconds: usage?.nanoseconds, threshold: threshold) }
            switch change {
            case .began?:
                logger.info("\(unit) is working (above \(threshold) CPUs)", metadata: [
                    "studio_event": "\(ActivityRecord.workEvent)", "studio_unit": "\(unit)", "studio_busy": "1",
                ])
            case .ended(let lastWork)?:
                logger.info("\(unit) stopped working", metadata: [
                    "studio_event": "\(ActivityRecord.workEvent)", "studio_unit": "\(unit)", "studio_busy": "0",
                    "studio_last_work": "\(lastWork)",
                ])
            case nil: break
            }
        }
    }

    struct Stop: Sendable {
        var running: IdleLedger.Running
        var verdict: IdleTimeline.Verdict
        var lastActivity: Double?
        var lastActivitySource: ActivitySource?
    }

    /// The workspaces to stop now.
    @discardableResult
    func check(now: Double) -> [Stop] {
        let candidates = ledger.withLock { ledger in
            ledger.workspaces.values.compactMap { workspace -> Stop? in
                let verdict = workspace.timeline.verdict()
                guard verdict.isIdle(at: now) else { return nil }
                return Stop(running: workspace.running, verdict: verdict, lastActivity: workspace.lastActivity, lastActivitySource: workspace.lastActivitySource)
            }
        }
        return stopping.withLock { stopping in
            candidates.filter { candidate in
                if let notBefore = stopping[candidate.running.unit], now < notBefore { return false }
                stopping[candidate.running.unit] = now + settings.stopRetry
                return true
            }
        }
    }

    /// Asks the broker to stop an idle workspace, saying why; the broker's audit entry carries the reason.
    func stop(_ stop: Stop, now: Double) async {
        let running = stop.running
        let idleFor = Self.duration(now - stop.verdict.lastSign)
        var reason = "idle for \(idleFor) since \(Self.format(stop.verdict.lastSign)): no interaction and no CPU work for its idle timeout of \(Self.duration(running.timeoutSeconds))"
        if let last = stop.lastActivity, let source = stop.lastActivitySource {
            reason += "; last activity \(source.rawValue) at \(Self.format(last))"
        }
        do {
            _ = try await broker.call(.stop, StopParams(owner: running.owner, name: running.name, reason: reason, idleSince: stop.verdict.lastSign), as: Done.self)
            logger.notice("stopped \(running.owner)/\(running.name): \(reason)", metadata: [
                "studio_user": "\(running.owner)", "studio_workspace": "\(running.name)",
            ])
            refreshWanted.store(true, ordering: .relaxed)
        } catch {
            logger.error("could not stop idle workspace \(running.owner)/\(running.name): \(error); trying again in \(Int(settings.stopRetry)) s")
        }
    }

    /// Writes what it knows for the broker to show.
    func publish() throws {
        let measures = self.measures.withLock { $0 }
        let statuses = ledger.withLock { ledger in
            ledger.workspaces.mapValues { $0.status(cpuMeasure: measures[$0.running.unit]?.rawValue) }
        }
        try IdleReportFile.write(IdleReport(generatedAt: Self.now(), workspaces: statuses), path: settings.reportPath)
    }

    static func format(_ time: Double) -> String {
        Date(timeIntervalSince1970: time.rounded(.down)).formatted(.iso8601)
    }

    /// "2h 0min", "45s".
    static func duration(_ seconds: Double) -> String {
        let total = Int(max(0, seconds).rounded())
        let (hours, minutes, rest) = (total / 3600, total % 3600 / 60, total % 60)
        if hours > 0 { return "\(hours)h \(minutes)min" }
        if minutes > 0 { return rest == 0 ? "\(minutes)min" : "\(minutes)min \(rest)s" }
        return "\(rest)s"
    }
}

/// Follows the journal on a thread of its own (sd-journal blocks), handing batches of entries to the daemon.
final class JournalThread: Sendable {
    enum Failure: Error, CustomStringConvertible {
        case ended
        var description: String { "the journal could not be read any more" }
    }

    let reader: JournalReader
    let continuation: AsyncStream<IdleDaemon.Event>.Continuation
    let stopped = Atomic<Bool>(false)

    init(reader: JournalReader, continuation: AsyncStream<IdleDaemon.Event>.Continuation) {
        self.reader = reader
        self.continuation = continuation
    }

    func start() {
        BackgroundThread.run { [self] in
            while !stopped.load(ordering: .relaxed) {
                do {
                    var batch: [JournalEntry] = []
                    while batch.count < 256, let entry = try reader.next() { batch.append(entry) }
                    if !batch.isEmpty {
                        continuation.yield(.entries(batch))
                        continue
                    }
                    try reader.wait(timeoutSeconds: 1)
                } catch {
                    // A journal that cannot be read is fatal for idle decisions: end, and let systemd restart us.
                    continuation.finish()
                    return
                }
            }
        }
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
}
