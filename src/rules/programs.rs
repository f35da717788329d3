//! Programs slim recognises by name: shells and package managers, which a
//! distroless image leaves out and `analyze` reports.

/// Shell programs: their presence means `docker exec sh` works, and so does an attacker's.
pub const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox",
];

/// Package managers and their front ends.
pub const PACKAGE_MANAGERS: &[&str] = &[
    "apt",
    "apt-get",
    "apt-cache",
    "aptitude",
    "dpkg",
    "dpkg-deb",
    "apk",
    "rpm",
    "yum",
    "dnf",
    "microdnf",
    "zypper",
    "pip",
    "pip3",
    "pipx",
    "easy_install",
    "npm",
    "npx",
    "corepack",
    "yarn",
    "yarnpkg",
    "pnpm",
    "gem",
    "bundle",
    "bundler",
    "composer",
];
