module github.com/vkinfer/vkinfer

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/ardanlabs/jinja v1.8.0
	github.com/chzyer/readline v1.5.1
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/creack/pty v1.1.24
	github.com/dlclark/regexp2 v1.12.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.2
	github.com/spf13/pflag v1.1.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
	github.com/vulkan-go/vulkan v0.0.0-20210402152248-956e3850d8f9
	golang.org/x/sys v0.43.0
	golang.org/x/text v0.43.0
)

require github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
