//! stdin/stdout as one duplex stream, for inetd mode (stunnel-reference §5.1
//! item 8: `local_rfd = 0`, `local_wfd = 1`). What stdin tells about the
//! client when inetd handed us an accepted socket is [`FdStream::peer`].

use std::io;
use std::os::fd::AsFd;

use super::stream::FdStream;

/// Read stdin, write stdout, through duplicates (so 0 and 1 stay valid).
pub fn open() -> io::Result<FdStream> {
    FdStream::duplex(
        io::stdin().as_fd().try_clone_to_owned()?,
        io::stdout().as_fd().try_clone_to_owned()?,
    )
}
