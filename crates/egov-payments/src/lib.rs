//! Payments for egov dossier fees: the VietQR bank-transfer code, the VNPAY-style redirect gateway adapter, and a
//! local simulator of that gateway for tests and the demo. It owns the wire formats and their signatures; it keeps
//! no records and knows nothing of dossiers beyond the text it is handed.

pub mod bank;
pub mod gateway;
pub mod simulator;
pub mod vietqr;
