"""The release bundle from a `sam build` output (see scripts/package, which runs this with the
python of the `sam` venv: it holds the SAM CLI's own YAML reader and writer, which keep the
template's intrinsic functions as CloudFormation reads them).

Usage: python scripts/package.py SAM_BUILD_DIR OUT_DIR

For each AWS::Serverless::Function of SAM_BUILD_DIR/template.yaml: its built directory's
`bootstrap` must be an arm64 (aarch64) ELF executable, as Lambda's arm64 runtime runs it; it
is zipped as OUT_DIR/<binary>.zip (the BuildProperties Binary name; fixed timestamps and mode
0755, so the same build makes the same zip), and the function's CodeUri becomes that zip. The
build instructions (Metadata BuildMethod, BuildProperties) are dropped: the bundle is deployed,
never built. The template goes to OUT_DIR/template.yaml.
"""
import os
import shutil
import struct
import sys
import zipfile

from samcli.yamlhelper import yaml_dump, yaml_parse

EM_AARCH64 = 183


def check_arm64(path):
    """Raises unless `path` is a 64-bit little-endian ELF for aarch64."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise SystemExit(f"{path} is not an ELF executable")
    (machine,) = struct.unpack_from("<H", head, 18)
    if head[4] != 2 or head[5] != 1 or machine != EM_AARCH64:
        raise SystemExit(f"{path} is not a 64-bit arm64 (aarch64) executable (e_machine {machine})")


def zip_bootstrap(bootstrap, target):
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(bootstrap, "rb") as f, zipfile.ZipFile(target, "w") as z:
        z.writestr(info, f.read())


def main():
    build, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(build, "template.yaml")) as f:
        template = yaml_parse(f.read())
    globals_ = template.get("Globals", {}).get("Function", {})
    default_uri = globals_.pop("CodeUri", None)
    if os.path.exists(out):
        # Only an earlier bundle is replaced: never a directory holding anything else.
        strays = [n for n in os.listdir(out) if n != "template.yaml" and not n.endswith(".zip")]
        if strays:
            raise SystemExit(f"{out} exists and is not a bundle (it holds {strays[:3]}): "
                             "give another OUT")
        shutil.rmtree(out)
    os.makedirs(out)
    functions = [(n, r) for n, r in template["Resources"].items()
                 if r.get("Type") == "AWS::Serverless::Function"]
    if not functions:
        raise SystemExit(f"{build}/template.yaml has no AWS::Serverless::Function")
    for name, resource in functions:
        props = resource.setdefault("Properties", {})
        uri = props.get("CodeUri", default_uri)
        if not isinstance(uri, str):
            raise SystemExit(f"{name}: CodeUri {uri!r} is not a built directory")
        bootstrap = os.path.join(build, uri, "bootstrap")
        if not os.path.isfile(bootstrap):
            raise SystemExit(f"{name}: {bootstrap} does not exist (was `sam build` run?)")
        check_arm64(bootstrap)
        metadata = resource.get("Metadata", {})
        binary = metadata.get("BuildProperties", {}).get("Binary", name)
        zip_bootstrap(bootstrap, os.path.join(out, f"{binary}.zip"))
        props["CodeUri"] = f"{binary}.zip"
        for key in ("BuildMethod", "BuildProperties"):
            metadata.pop(key, None)
        if "Metadata" in resource and not metadata:
            del resource["Metadata"]
        print(f"{out}/{binary}.zip: {name}", file=sys.stderr)
    with open(os.path.join(out, "template.yaml"), "w") as f:
        f.write(yaml_dump(template))
    print(f"{out}/template.yaml: deploy with "
          f"`sam deploy --template-file {out}/template.yaml --resolve-s3 --guided`", file=sys.stderr)


if __name__ == "__main__":
    main()
