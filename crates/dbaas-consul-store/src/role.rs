//! What an agent is in the election, as the store and the API see it.

use serde::{Deserialize, Serialize};

/// Who leads: the value of the leader lock key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// The agent's id.
    pub id: String,
    /// Where the agent's API listens, for followers to forward to.
    pub address: String,
}

/// The proof a leader's writes carry: the store checks, in the same Consul
/// transaction as each write, that the generation key was not changed
/// since this leader set it (`check-index`) and that its session still
/// holds the leader lock (`check-session`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The leadership generation this agent won (1 for the first leader of
    /// a cluster, one more for each new leader).
    pub generation: u64,
    /// The `ModifyIndex` of the generation key after this leader set it.
    pub generation_index: u64,
    /// The session holding the leader lock.
    pub session: String,
}

/// This agent's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Another agent leads (`Some`), or none is known right now (`None`:
    /// an election is under way, or Consul cannot be reached). Mutating
    /// calls are forwarded to the leader or refused.
    Follower {
        /// The leader, when one holds the lock.
        leader: Option<LeaderInfo>,
    },
    /// This agent leads and may write, fenced by its generation.
    Leader(Fence),
}

impl Role {
    /// A follower that knows of no leader.
    pub fn no_leader() -> Role {
        Role::Follower { leader: None }
    }

    /// Whether this agent leads.
    pub fn is_leader(&self) -> bool {
        matches!(self, Role::Leader(_))
    }

    /// The generation this agent leads with.
    pub fn generation(&self) -> Option<u64> {
        match self {
            Role::Leader(fence) => Some(fence.generation),
            Role::Follower { .. } => None,
        }
    }

    /// The other agent that leads, for a follower.
    pub fn leader(&self) -> Option<&LeaderInfo> {
        match self {
            Role::Follower { leader } => leader.as_ref(),
            Role::Leader(_) => None,
        }
    }
}
