//! Reports for managers (see `render`).
