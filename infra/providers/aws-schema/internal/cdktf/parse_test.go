package cdktf

import (
	"encoding/json"
	"testing"
)

func TestStorageTypeFollowsNestingAndStorageClass(t *testing.T) {
	tests := []struct {
		name, nesting, storage, want string
	}{
		{"string", "simple", "string", `"string"`},
		{"boolean is bool", "simple", "boolean", `"bool"`},
		{"any is dynamic", "simple", "any", `"dynamic"`},
		{"set of strings", "set", "stringList", `["set","string"]`},
		{"list of numbers", "list", "numberList", `["list","number"]`},
		{"map of strings", "map", "stringMap", `["map","string"]`},
		{"outer collection from nesting", "set", "stringListList", `["set",["list","string"]]`},
		{"list of maps", "list", "stringMapList", `["list",["map","string"]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := storageType(tt.nesting, tt.storage)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("storageType(%q, %q) = %s, want %s", tt.nesting, tt.storage, b, tt.want)
			}
		})
	}
}

func TestStorageTypeRejectsWhatItCannotRead(t *testing.T) {
	tests := []struct{ name, nesting, storage string }{
		{"struct storage class", "list", "DynamodbTableTtlList"},
		{"collection without nesting", "simple", "stringList"},
		{"nesting without collection", "set", "string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := storageType(tt.nesting, tt.storage); err == nil {
				t.Errorf("storageType(%q, %q) = %v, want an error", tt.nesting, tt.storage, got)
			}
		})
	}
}

func TestParseJSReadsArgumentsAndComputedAttributes(t *testing.T) {
	src := `function exampleTtlToHclTerraform(struct) {
    const attrs = {
        attribute_name: {
            value: cdktf.stringToHclTerraform(struct.attributeName),
            isBlock: false,
            type: "simple",
            storageClassType: "string",
        },
    };
}
class Example extends cdktf.TerraformResource {
    constructor(scope, id, config) {
        // ttl - computed: false, optional: true, required: false
        this._ttl = new ExampleTtlOutputReference(this, "ttl");
    }
    // arn - computed: true, optional: false, required: false
    get arn() {
        return this.getStringAttribute('arn');
    }
    synthesizeHclAttributes() {
        const attrs = {
            name: {
                value: cdktf.stringToHclTerraform(this._name),
                isBlock: false,
                type: "simple",
                storageClassType: "string",
            },
            ttl: {
                value: exampleTtlToHclTerraform(this._ttl.internalValue),
                isBlock: true,
                type: "list",
                storageClassType: "ExampleTtlList",
            },
        };
    }
}
Example.tfResourceType = "aws_example";
`
	f := parseJS(src)
	if f.tfType["Example"] != "aws_example" {
		t.Fatalf("tfType = %v", f.tfType)
	}
	pkg := &Package{jsii: map[string]map[string]*jsiiType{"example": {
		"ExampleConfig": {Properties: []jsiiProperty{{Name: "name"}, {Name: "ttl", Optional: true}}},
	}}}
	b := &builder{pkg: pkg, file: f, namespace: "example"}
	cls := f.classes["Example"]
	block, err := b.block(cls.synth, "ExampleConfig", cls, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := block.Attributes["name"]; a == nil || !a.Required {
		t.Errorf("name = %+v, want required", a)
	}
	if a := block.Attributes["arn"]; a == nil || !a.Computed || a.Optional {
		t.Errorf("arn = %+v, want computed only", a)
	}
	ttl := block.BlockTypes["ttl"]
	if ttl == nil || ttl.MaxItems != 1 || ttl.Block.Attributes["attribute_name"] == nil {
		t.Errorf("ttl = %+v, want a one-item block with attribute_name", ttl)
	}
}
