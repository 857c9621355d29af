package gguf

import "fmt"

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types, fixed by the format.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// scalarSize is the encoded size of a fixed-size value type, 0 for string
// and array, -1 for an unknown type.
func (t ValueType) scalarSize() int {
	switch t {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	case ValueString, ValueArray:
		return 0
	}
	return -1
}

// Value is one metadata value. Data holds, by Type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string,
// uint64, int64, float64, or Array for ValueArray.
type Value struct {
	Type ValueType
	Data any
}

// Array is a metadata array. Data is a typed slice matching Elem:
// []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
// []string, []uint64, []int64, []float64, or []Array for nested arrays.
type Array struct {
	Elem ValueType
	Data any
}

// Len returns the number of elements in the array.
func (a Array) Len() int {
	switch d := a.Data.(type) {
	case []uint8:
		return len(d)
	case []int8:
		return len(d)
	case []uint16:
		return len(d)
	case []int16:
		return len(d)
	case []uint32:
		return len(d)
	case []int32:
		return len(d)
	case []float32:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	case []uint64:
		return len(d)
	case []int64:
		return len(d)
	case []float64:
		return len(d)
	case []Array:
		return len(d)
	}
	return 0
}

// KV is one metadata key and its value, in file order.
type KV struct {
	Key   string
	Value Value
}

// Uint returns an integer value of any integer type as uint64.
// It fails for negative values and non-integer types.
func (v Value) Uint() (uint64, bool) {
	switch d := v.Data.(type) {
	case uint8:
		return uint64(d), true
	case uint16:
		return uint64(d), true
	case uint32:
		return uint64(d), true
	case uint64:
		return d, true
	case int8:
		return uint64(d), d >= 0
	case int16:
		return uint64(d), d >= 0
	case int32:
		return uint64(d), d >= 0
	case int64:
		return uint64(d), d >= 0
	}
	return 0, false
}

// Int returns an integer value of any integer type as int64.
func (v Value) Int() (int64, bool) {
	switch d := v.Data.(type) {
	case uint8:
		return int64(d), true
	case uint16:
		return int64(d), true
	case uint32:
		return int64(d), true
	case uint64:
		return int64(d), d <= 1<<63-1
	case int8:
		return int64(d), true
	case int16:
		return int64(d), true
	case int32:
		return int64(d), true
	case int64:
		return d, true
	}
	return 0, false
}

// Float returns a float or integer value as float64.
func (v Value) Float() (float64, bool) {
	switch d := v.Data.(type) {
	case float32:
		return float64(d), true
	case float64:
		return d, true
	}
	if i, ok := v.Int(); ok {
		return float64(i), true
	}
	return 0, false
}
