//! Management endpoint logic: HTTP/1.1 parsing, routing and JSON, pure

#![no_std]
#![forbid(unsafe_code)]
