//! Host-rule evaluations: GTFOBins examples turned into the process events the agent
//! would record, and the built-in rules run over them; and the same rules over ordinary
//! work, for their false positives.

pub mod false_positives;
pub mod gtfobins;
pub mod lolbas;
pub mod shell;
pub mod simulate;
