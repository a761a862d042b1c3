//! tanis reference client.
