package vk_test

import (
	"errors"
	"testing"

	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/vk"
)

func TestPick(t *testing.T) {
	ok := vk.Info{ComputeQueue: 0, Int8: true, Storage16: true, Storage8: true, Int64: true, MaxPushConstants: 128, MaxSharedMemory: 32768, MaxWorkgroupInvocations: 1024}
	dev := func(name string, typ vk.Type) vk.Info { i := ok; i.Name, i.Type = name, typ; return i }
	noStorage := dev("old", vk.Discrete)
	noStorage.Storage8 = false
	noInt8 := dev("no int8", vk.Discrete)
	noInt8.Int8 = false
	tests := []struct {
		name  string
		infos []vk.Info
		opts  vk.Options
		want  int
	}{
		{"discrete before integrated", []vk.Info{dev("igpu", vk.Integrated), dev("dgpu", vk.Discrete)}, vk.Options{Index: -1}, 1},
		{"integrated before virtual", []vk.Info{dev("virt", vk.Virtual), dev("igpu", vk.Integrated)}, vk.Options{Index: -1}, 1},
		{"cpu refused unless asked", []vk.Info{dev("llvmpipe", vk.CPU)}, vk.Options{Index: -1}, -1},
		{"cpu when asked", []vk.Info{dev("llvmpipe", vk.CPU)}, vk.Options{Index: -1, AllowCPU: true}, 0},
		{"gpu still before cpu", []vk.Info{dev("llvmpipe", vk.CPU), dev("igpu", vk.Integrated)}, vk.Options{Index: -1, AllowCPU: true}, 1},
		{"unusable skipped", []vk.Info{noStorage, dev("igpu", vk.Integrated)}, vk.Options{Index: -1}, 1},
		{"no int8 skipped", []vk.Info{noInt8, dev("igpu", vk.Integrated)}, vk.Options{Index: -1}, 1},
		{"no int8 alone", []vk.Info{noInt8}, vk.Options{Index: -1}, -1},
		{"float16 not needed", []vk.Info{dev("no float16", vk.Discrete)}, vk.Options{Index: -1}, 0}, // ok has none: no shader declares Float16
		{"index", []vk.Info{dev("a", vk.Discrete), dev("b", vk.CPU)}, vk.Options{Index: 1}, 1},
		{"index out of range", []vk.Info{dev("a", vk.Discrete)}, vk.Options{Index: 3}, -1},
		{"index unusable", []vk.Info{noStorage}, vk.Options{Index: 0}, -1},
		{"none", nil, vk.Options{Index: -1}, -1},
	}
	for _, tc := range tests {
		got, err := vk.Pick(tc.infos, tc.opts)
		if got != tc.want {
			t.Errorf("%s: Pick = %d, want %d (err %v)", tc.name, got, tc.want, err)
		}
		if tc.want < 0 && !errors.Is(err, vk.ErrNoDevice) {
			t.Errorf("%s: error %v does not wrap ErrNoDevice", tc.name, err)
		}
	}
}

func TestDeviceFacts(t *testing.T) {
	d := vktest.Device(t)
	i := d.Info
	t.Logf("device: %s", i)
	if i.SubgroupSize == 0 || i.MaxStorageBufferRange == 0 || i.ComputeQueue < 0 {
		t.Fatalf("device facts not read: %+v", i)
	}
	if why := i.Usable(); why != "" {
		t.Fatalf("opened an unusable device: %s", why)
	}
}

func TestBufferRoundTrip(t *testing.T) {
	d := vktest.Device(t)
	for _, kind := range []vk.Kind{vk.DeviceLocal, vk.HostVisible} {
		b, err := d.NewBuffer(1000, kind)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 999)
		for i := range data {
			data[i] = byte(i*7 + 3)
		}
		if err := b.Write(1, data); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(data))
		if err := b.Read(1, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != data[i] {
				t.Fatalf("kind %d: byte %d = %d, want %d", kind, i, got[i], data[i])
			}
		}
		if err := b.Write(b.Size()-1, []byte{1, 2}); err == nil {
			t.Errorf("kind %d: write past the end accepted", kind)
		}
		b.Close()
	}
}

// TestStagedCopy runs the staging path of discrete GPUs on a second
// device handle that refuses to map device memory.
func TestStagedCopy(t *testing.T) {
	d := vktest.StagingDevice(t)
	b, err := d.NewBuffer(3<<20, vk.DeviceLocal)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Bytes() != nil {
		t.Fatal("staging device mapped a device-local buffer")
	}
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 31 >> 3)
	}
	if err := b.Write(0, data); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if err := b.Read(0, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != data[i] {
			t.Fatalf("byte %d = %d, want %d", i, got[i], data[i])
		}
	}
}

// TestStepUpdate writes device-local memory inside a step and reads it
// back through a copy in the same step, on a device that refuses to map
// device memory: one submit, the staging path never taken.
func TestStepUpdate(t *testing.T) {
	d := vktest.StagingDevice(t)
	st, err := d.NewStep()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		name      string
		off, size int
		ok        bool
	}{
		{"one word", 0, 4, true},
		{"at an offset", 12, 4000, true},
		{"past one vkCmdUpdateBuffer", 4, 70004, true},
		{"odd size", 0, 6, false},
		{"odd offset", 2, 8, false},
		{"overrun", 80000, 8, false},
		{"after a discarded step", 8, 16, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev, err := d.NewBuffer(80000, vk.DeviceLocal)
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			host, err := d.NewBuffer(80000, vk.HostVisible)
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i*13 + 5)
			}
			if err := st.Begin(); err != nil {
				t.Fatal(err)
			}
			err = st.Update(dev, uint64(tc.off), data)
			if (err == nil) != tc.ok {
				t.Fatalf("Update error %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				// A failed recording is dropped; the next case's Begin
				// proves the step usable again.
				st.Discard()
				if err := st.Submit(); err == nil {
					t.Fatal("Submit after Discard succeeded")
				}
				return
			}
			st.Barrier()
			st.Copy(vk.Range{Buf: dev, Off: uint64(tc.off), Size: uint64(tc.size)}, vk.Range{Buf: host, Size: uint64(tc.size)})
			before := d.Submits()
			if err := st.Submit(); err != nil {
				t.Fatal(err)
			}
			if n := d.Submits() - before; n != 1 {
				t.Errorf("%d submits, want 1", n)
			}
			got := host.Bytes()[:tc.size]
			for i := range got {
				if got[i] != data[i] {
					t.Fatalf("byte %d = %d, want %d", i, got[i], data[i])
				}
			}
		})
	}
}
