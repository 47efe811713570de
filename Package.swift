// swift-tools-version:6.2
// Studio: a self-hosted development studio for one Linux box, native to systemd.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// What a long-running program of ours (the broker, the agent) is made of besides our own targets.
let daemon: [Target.Dependency] = [
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    .product(name: "UnixSignals", package: "swift-service-lifecycle"),
]

let package = Package(
    name: "studio",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "studio", targets: ["studio"]),
        .executable(name: "studiod", targets: ["studiod"]),
        .executable(name: "studio-sandbox", targets: ["studio-sandbox"]),
        .executable(name: "studio-idled", targets: ["studio-idled"]),
        .executable(name: "studioctl", targets: ["studioctl"]),
        .executable(name: "studio-agent", targets: ["studio-agent"]),
    ],
    dependencies: [
        // Hummingbird without its default traits: no swift-configuration, no full Foundation (ICU).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // C, and nothing else imports it.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CPAM", providers: [.apt(["libpam0g-dev"])]),
        // The glibc PTY and posix_spawn extensions Swift's Glibc module leaves out (need _GNU_SOURCE).
        .target(name: "CPty"),
        // Linux's mount API (open_tree, mount_setattr, move_mount), user namespaces made to carry an id map: what
        // the container backend needs that neither glibc 2.36 nor Swift's Glibc module exposes.
        .target(name: "CMount"),

        // Domain: no I/O.
        .target(name: "StudioCore", swiftSettings: strict),
        // systemd's service protocols spoken natively, without libsystemd: journal entries, notifications, socket
        // activation (the agent uses them inside images that have no libsystemd).
        .target(
            name: "StudioJournal",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // The one Swift face of libsystemd.
        .target(
            name: "StudioSystemd",
            dependencies: [
                "CSystemd", "StudioCore", "StudioJournal",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Workspace definitions in SQLite (GRDB on Debian's libsqlite3), with migrations.
        .target(
            name: "StudioStore",
            dependencies: ["StudioCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // The one Swift face of OpenSSL's libcrypto: random tokens and their hashes.
        .target(name: "StudioCrypto", dependencies: ["CCrypto"], swiftSettings: strict),
        // The one Swift face of PAM.
        .target(name: "StudioAuth", dependencies: ["CPAM", "StudioCore"], swiftSettings: strict),
        // Socket-activated servers with idle exit, for studiod and the broker.
        .target(
            name: "StudioNet",
            dependencies: [
                "StudioCore", "StudioJournal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // The async client of the broker (and, through it, of agents) that studiod, studio-idled and studioctl share.
        .target(
            name: "StudioClient",
            dependencies: [
                "StudioCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // studiod: HTTP API and web UI on socket-activated listeners.
        .target(
            name: "StudioServer",
            dependencies: [
                "StudioCore", "StudioSystemd", "StudioNet", "StudioClient", "StudioCrypto",
                .product(name: "WSCore", package: "swift-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // The workspace agent: a lean program of its own (libc and the C++ runtime only), so that it runs from the host's
        // binary inside any glibc image as well as on the host.
        .target(
            name: "StudioAgent",
            dependencies: ["StudioCore", "StudioJournal", "StudioNet", "CPty"] + daemon,
            swiftSettings: strict),
        // studio-sandbox: the privileged broker.
        .target(
            name: "StudioSandbox",
            dependencies: ["StudioCore", "StudioSystemd", "StudioAuth", "StudioNet", "StudioStore", "StudioCrypto", "StudioAgent", "CMount"] + daemon,
            swiftSettings: strict),
        // studio-idled: stops idle workspaces, from the journal's activity records and their CPU work.
        .target(
            name: "StudioIdle",
            dependencies: [
                "StudioCore", "StudioSystemd", "StudioClient", "StudioNet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // studioctl: the command line.
        .target(
            name: "StudioCLI",
            dependencies: [
                "StudioCore", "StudioClient", "StudioNet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // Thin programs.
        .executableTarget(name: "studiod", dependencies: ["StudioServer"]),
        .executableTarget(name: "studio-sandbox", dependencies: ["StudioSandbox"]),
        .executableTarget(name: "studio-idled", dependencies: ["StudioIdle", "StudioNet"]),
        .executableTarget(name: "studioctl", dependencies: ["StudioCLI", "StudioNet"]),
        .executableTarget(name: "studio-agent", dependencies: ["StudioAgent", "StudioNet"]),
        // The shipped binary: one multi-call program, the four above as links to it (see docs/architecture.md).
        .executableTarget(
            name: "studio",
            dependencies: ["StudioServer", "StudioSandbox", "StudioIdle", "StudioCLI"]),

        .testTarget(name: "StudioCoreTests", dependencies: ["StudioCore"]),
        .testTarget(name: "StudioSystemdTests", dependencies: ["StudioSystemd"]),
        .testTarget(name: "StudioSandboxTests", dependencies: ["StudioSandbox", "StudioAgent"]),
        .testTarget(name: "StudioStoreTests", dependencies: ["StudioStore"]),
        .testTarget(
            name: "StudioNetTests",
            dependencies: ["StudioNet", .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "StudioCLITests", dependencies: ["StudioCLI"]),
        // The workspace agent end to end: runs the built studio-sandbox and studioctl.
        .testTarget(
            name: "StudioAgentTests",
            dependencies: ["StudioSandbox", "StudioAgent", "StudioCLI", "StudioCore", "StudioNet", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "StudioServerTests",
            dependencies: [
                "StudioServer", "StudioNet",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
    ]
)
