// The JSON the request and target routes answer (gateway/broker/views.ts and targets.ts), as the pages read it.

export type RequestState = 'pending' | 'approved' | 'denied' | 'cancelled' | 'expired' | 'revoked';
export type Protocol = 'ssh' | 'rdp';

export interface PersonRef {
  id: string;
  name: string;
  org: string;
}

export interface RequestView {
  id: string;
  state: RequestState;
  grantStatus: 'none' | 'not_started' | 'active' | 'ended' | 'revoked';
  grantId: string | null;
  protocol: Protocol;
  startsAt: string;
  endsAt: string;
  durationMinutes: number;
  windowLocal: string;
  purpose: string;
  ticket: string | null;
  emergency: boolean;
  emergencyReason: string | null;
  approvalsRequired: number;
  approvals: number;
  decisions: Array<{ by: PersonRef; at: string; verdict: 'approve' | 'deny'; reason: string | null }>;
  requester: PersonRef & { email: string };
  target: { id: string; name: string; zone: string | null; securityLevel: number | null };
  createdAt: string;
  updatedAt: string;
  closedReason: string | null;
  can: { approve: boolean; deny: boolean; cancel: boolean; revoke: boolean };
  earlierSessions?: {
    count: number;
    recent: Array<{ id: string; protocol: Protocol; startedAt: string; endedAt: string | null; endReason: string | null }>;
  };
}

export interface WindowRule {
  days: string[];
  from: string;
  to: string;
}

export interface TargetView {
  id: string;
  name: string;
  zone: string;
  securityLevel: number;
  protocols: Protocol[];
  maxDurationMinutes: number;
  approvalsRequired: number;
  emergencyApprovalsRequired: number;
  maintenanceWindows: WindowRule[] | null;
  nextWindows: Array<{ start: string; end: string }>;
  timeZone: string;
  canRequest: boolean;
  canApprove: boolean;
}
