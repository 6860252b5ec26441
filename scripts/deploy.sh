#!/usr/bin/env bash
# make deploy: collabgw's first deployment (README "Deploy"), as far as the
# tools can take it. It builds what needs no AWS account first, then stops
# with a message wherever a person must act (no terraform.tfvars, no AWS
# credentials, no Terraform, approving a plan). Every step can run again:
# fix what it stopped on and run make deploy again.
#
#   1. build the functions           (dist/<name>.zip)
#   2. build the edge image          (dist/edge-image, reproducible digest)
#   3. create the ECR repository     (terraform apply -target)
#   4. push the edge image           (collabgw image --push; digest into edge.auto.tfvars.json)
#   5. create the key secrets        (<name>/gateway-key, <name>/peer-key; never on a command line)
#   6. terraform apply               (table, functions, edge, pools from terraform.tfvars, alarms)
#   7. register a device, log in     (printed: they need a person's user id and password)
#
# Settings (environment): TERRAFORM (terraform or tofu; default: whichever
# is installed), AUTO_APPROVE=1 (apply without asking), COLLABGW_DEPLOY_DIR
# (the root module, default infra/examples/complete), COLLABGW_DIST_DIR
# (default dist), COLLABGW_KEYS_DIR (where gateway.pub is kept for
# provisioning devices, default .local/deploy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLE=${COLLABGW_DEPLOY_DIR:-$ROOT/infra/examples/complete}
DIST=${COLLABGW_DIST_DIR:-$ROOT/dist}
KEYS=${COLLABGW_KEYS_DIR:-$ROOT/.local/deploy}
AWS=${AWS_CLI:-aws}

step() { printf '\n==> %s\n' "$*"; }
stop() {
	printf '\nmake deploy stopped: %s\n' "$1" >&2
	shift
	for line in "$@"; do printf '    %s\n' "$line" >&2; done
	exit 2
}

# Private keys exist on this disk only between their creation and their
# upload; whatever happens, they are removed on exit.
cleanup_keys() { rm -f "$KEYS"/*.key.tmp; }
trap cleanup_keys EXIT

step "Building the collabgw tool"
mkdir -p "$DIST/bin"
(cd "$ROOT" && go build -o "$DIST/bin/collabgw" ./cmd/collabgw)
COLLABGW=$DIST/bin/collabgw
collabgw() { (cd "$ROOT" && "$COLLABGW" "$@"); }

step "1. Building the functions for Lambda (linux/arm64)"
collabgw build --arch arm64 --out "$DIST"

step "2. Building the edge image (linux/arm64)"
collabgw image --arch arm64 --out "$DIST/edge-image" --digest-file "$DIST/edge-image.digest"
LOCAL_DIGEST=$(cat "$DIST/edge-image.digest")

# What a person must provide before anything touches AWS.
[ -f "$EXAMPLE/terraform.tfvars" ] || stop "no $EXAMPLE/terraform.tfvars." \
	"Describe the deployment first (VPC, subnets, device and GroupWise networks, pools):" \
	"  cp $EXAMPLE/terraform.tfvars.example $EXAMPLE/terraform.tfvars" \
	"  \$EDITOR $EXAMPLE/terraform.tfvars" \
	"then run make deploy again. Everything so far is built: dist/*.zip, dist/edge-image ($LOCAL_DIGEST)."
if [ -z "${TERRAFORM:-}" ]; then
	if command -v terraform >/dev/null; then TERRAFORM=terraform
	elif command -v tofu >/dev/null; then TERRAFORM=tofu
	else stop "neither terraform nor tofu is installed." "Install Terraform >= 1.6 or OpenTofu >= 1.6, then run make deploy again."
	fi
fi
is_v2() { "$1" --version 2>&1 | grep -q '^aws-cli/2'; }
if ! is_v2 "$AWS"; then
	# A pip-installed v1 earlier in PATH: use Debian's v2 when it is there.
	if [ -z "${AWS_CLI:-}" ] && [ -x /usr/bin/aws ] && is_v2 /usr/bin/aws; then AWS=/usr/bin/aws
	else stop "the AWS CLI v2 is not installed (or another aws comes first in PATH)." \
		"Install it (make deps, or AWS's installer), or point AWS_CLI at it, then run make deploy again."
	fi
fi
if ! ACCOUNT=$("$AWS" sts get-caller-identity --query Account --output text 2>/dev/null); then
	stop "no AWS credentials." \
		"Sign in for the target account, e.g. aws configure sso && export AWS_PROFILE=..., or set" \
		"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; check with: aws sts get-caller-identity" \
		"then run make deploy again. Everything so far is built: dist/*.zip, dist/edge-image ($LOCAL_DIGEST)."
fi

tf() { (cd "$EXAMPLE" && "$TERRAFORM" "$@"); }
APPROVE=()
[ "${AUTO_APPROVE:-}" = 1 ] && APPROVE=(-auto-approve)

step "Initialising $TERRAFORM in ${EXAMPLE#"$ROOT"/}"
tf init -input=false
var() { printf '%s\n' "var.$1" | tf console | tr -d '"'; }
NAME=$(var name)
REGION=$(var region)
export AWS_REGION=$REGION
echo "deployment $NAME in $REGION, account $ACCOUNT"

step "3. Creating the ECR repository $NAME-edge"
tf apply -input=false "${APPROVE[@]}" -target=module.edge.aws_ecr_repository.this -target=module.edge.aws_ecr_lifecycle_policy.this
REPO=$("$AWS" ecr describe-repositories --repository-names "$NAME-edge" --query 'repositories[0].repositoryUri' --output text)

step "4. Pushing the edge image to $REPO"
collabgw image --arch arm64 --push "$REPO" --digest-file "$DIST/edge-image.digest"
DIGEST=$(cat "$DIST/edge-image.digest")
[ "$DIGEST" = "$LOCAL_DIGEST" ] || echo "note: the source changed since step 2; pushed $DIGEST"
printf '{\n  "edge_image_digest": "%s"\n}\n' "$DIGEST" >"$EXAMPLE/edge.auto.tfvars.json"
echo "wrote ${EXAMPLE#"$ROOT"/}/edge.auto.tfvars.json (edge_image_digest = $DIGEST)"

step "5. Creating the key secrets"
mkdir -p "$KEYS"
chmod 700 "$KEYS"
secret_exists() { "$AWS" secretsmanager describe-secret --secret-id "$1" --query ARN --output text >/dev/null 2>&1; }
# create_secret NAME FILE DESCRIPTION: the value goes by file:// so it
# never appears on a command line or in shell history.
create_secret() {
	"$AWS" secretsmanager create-secret --name "$1" --description "$3" --secret-string "file://$2" --query ARN --output text
}
if secret_exists "$NAME/gateway-key"; then
	echo "$NAME/gateway-key exists; kept (rotating it is a procedure: infra/README.md)"
	[ -f "$KEYS/gateway.pub" ] || echo "note: $KEYS/gateway.pub is not here; devices need the public key of the existing gateway key"
else
	rm -f "$KEYS/gateway.key" "$KEYS/gateway.pub"
	collabgw keys gateway --out "$KEYS/gateway"
	mv "$KEYS/gateway.key" "$KEYS/gateway.key.tmp"
	create_secret "$NAME/gateway-key" "$KEYS/gateway.key.tmp" "collabgw gateway Noise static private key"
	rm -f "$KEYS/gateway.key.tmp"
	echo "kept $KEYS/gateway.pub: every device is provisioned with it"
fi
if secret_exists "$NAME/peer-key"; then
	echo "$NAME/peer-key exists; kept"
else
	(umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$KEYS/peer.key.tmp")
	create_secret "$NAME/peer-key" "$KEYS/peer.key.tmp" "collabgw edge task-to-task link key"
	rm -f "$KEYS/peer.key.tmp"
fi

step "6. terraform apply: the table, the functions, the edge, the pools, the alarms"
tf apply -input=false "${APPROVE[@]}"

NLB=$(tf output -raw load_balancer_dns_name)
TABLE=$(tf output -raw table_name)
cat <<EOF

==> Deployed. Devices connect to $NLB:3101.
The pools in terraform.tfvars are configured (Terraform owns them; change them there):
    AWS_REGION=$REGION $COLLABGW admin --table $TABLE pool show <pool>

7. Register a user and a device (by hand: their ids are yours to choose):
    AWS_REGION=$REGION $COLLABGW admin --table $TABLE user add alice --pool <pool>
    $COLLABGW device keygen --out phone        # phone.key stays on the device
    AWS_REGION=$REGION $COLLABGW admin --table $TABLE device register phone-1 --user alice --pub phone.pub

8. Log in (the user's GroupWise password):
    $COLLABGW device login --edge $NLB:3101 --gateway-key $KEYS/gateway.pub \\
        --device phone-1 --key phone.key --user alice --password '<password>'
EOF
