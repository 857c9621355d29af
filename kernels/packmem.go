package kernels

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on amd64.
const hugePage = 2 << 20

// MapPacked maps size bytes of anonymous memory for Repack's dst, outside
// the Go heap (a 1B model's matrices are gigabytes the garbage collector
// need not scan), starting on a huge-page boundary and advised to take
// huge pages: decode streams every matrix each token, and with 4 KiB
// pages the page walks cost a measurable share of the read rate. region
// is the whole mapping, for syscall.Munmap; dst the aligned size bytes
// inside it.
func MapPacked(size int) (region, dst []byte, err error) {
	region, err = syscall.Mmap(-1, 0, size+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(region))) % hugePage); r != 0 {
		off = hugePage - r
	}
	dst = region[off : off+size : off+size]
	// Advice only: a kernel without transparent huge pages maps small ones.
	_ = syscall.Madvise(dst, unix.MADV_HUGEPAGE)
	return region, dst, nil
}
