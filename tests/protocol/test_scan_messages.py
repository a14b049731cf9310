"""The scan messages on the wire (protocol/scan.py): they round-trip through the codec,
and the client's largest request fits the frame a node allows any client."""

from eraft_trio.client.scan import BUCKETS_PER_REQUEST
from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.protocol.scan import KvScan, ScanBucketPage, ScanCursor, ScanPage
from eraft_trio.transport import codec
from eraft_trio.transport.limits import FRAME_OVERHEAD_BYTES


def test_a_scan_and_its_page_round_trip() -> None:
    request = KvScan([ScanCursor(3, b"after"), ScanCursor(7)], b"pre", 10, 1 << 20, True)
    assert codec.decode(codec.encode(request)) == request
    page = ScanPage([ScanBucketPage(3, [(b"k", None, 2, 40), (b"l", b"v", 1, 41)], True)], [7], 9)
    assert codec.decode(codec.encode(page)) == page


def test_the_largest_client_request_fits_the_frame_overhead_of_any_node() -> None:
    """Nodes allow a client frame of max_value_bytes + FRAME_OVERHEAD_BYTES, whatever
    max_value_bytes is: a request of the most cursors, every key of the largest size, must
    fit in the overhead alone."""
    key = b"k" * MAX_KEY_BYTES
    request = KvScan([ScanCursor(b, key) for b in range(BUCKETS_PER_REQUEST)], key, 10**4, 1 << 22)
    assert len(codec.encode(request)) < FRAME_OVERHEAD_BYTES
