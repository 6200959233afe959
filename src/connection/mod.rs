//! One accepted connection from accept to close.
