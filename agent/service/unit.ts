// The systemd unit that runs the agent, written by the Debian package and by
// `ferry-agent install-service` alike, so both hosts run the agent the same way.
//
// ExecStart is the supervisor (`ferry-agent supervise`): it runs the agent from
// <install-root>/ferry-agent/current when Ferry has installed an agent version there, else the
// packaged one, and returns to the previous version when a new one does not report back healthy.
//
// Hardening stops at what package hooks may reasonably need: the agent runs as root because it
// installs software; /usr, /boot and /etc are read-only except for the agent's own state and
// install root (widen with a drop-in: `systemctl edit ferry-agent`, ReadWritePaths=/etc/myapp).
// No MemoryDenyWriteExecute: node's JIT needs writable executable memory.

import { DECOMMISSIONED_FILE } from '../config.js';

export interface AgentUnitOptions {
  /** absolute path of the ferry-agent command */
  command: string;
  stateDir: string;
  installRoot: string;
  /** the config file the agent reads (FERRY_CONFIG); optional */
  configFile?: string;
}

export const AGENT_UNIT_NAME = 'ferry-agent.service';

export function renderAgentUnit(o: AgentUnitOptions): string {
  return `# Ferry agent — installs the releases its Ferry server rolls out.
# Starts only once this host has joined a server (ferry-agent join …).
[Unit]
Description=Ferry agent (software distribution)
Wants=network-online.target
After=network-online.target
ConditionPathExists=${o.stateDir}/identity.json
# A decommissioned agent never starts again (its credentials are gone).
ConditionPathExists=!${o.stateDir}/${DECOMMISSIONED_FILE}

[Service]
Type=simple
${o.configFile ? `Environment=FERRY_CONFIG=${o.configFile}\n` : ''}ExecStart=${o.command} supervise --state-dir ${o.stateDir}
Restart=on-failure
RestartSec=5s
# 5 = not joined / decommissioned: restarting cannot help.
RestartPreventExitStatus=5
# The supervisor forwards SIGTERM to the agent and waits for it.
KillMode=mixed
TimeoutStopSec=90s
UMask=0022
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${o.stateDir} ${o.installRoot}
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`;
}
