#!/usr/bin/env bash
# A developer's session with the AWS CLI v1 against a served cellstore:
# tables and waiters, items, --max-items paging, --output table, a
# transaction, and SQS with a FIFO queue, a dead-letter queue and a move task.
# Run by tests/clients/test_clients.py with .clients/awscli/bin first on PATH;
# $1 is the endpoint, $2 a name suffix unique to the run.  Prints "<step>: ok".
set -euo pipefail
endpoint=$1 run=$2
export AWS_ACCESS_KEY_ID=any AWS_SECRET_ACCESS_KEY=any AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
ddb() { aws --endpoint-url "$endpoint" dynamodb "$@"; }
sqs() { aws --endpoint-url "$endpoint" sqs "$@"; }
expect() {  # expect WHAT ACTUAL EXPECTED
    if [[ "$2" != "$3" ]]; then printf '%s: got [%s], expected [%s]\n' "$1" "$2" "$3" >&2; exit 1; fi
}
table=cli-books-$run
err=$(mktemp)
trap 'rm -f "$err"' EXIT

ddb create-table --table-name "$table" --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=author,AttributeType=S AttributeName=title,AttributeType=S \
    --key-schema AttributeName=author,KeyType=HASH AttributeName=title,KeyType=RANGE >/dev/null
ddb wait table-exists --table-name "$table"
expect status "$(ddb describe-table --table-name "$table" --query Table.TableStatus --output text)" ACTIVE
echo "create table, waiter: ok"

puts=$(for n in $(seq 1 12); do
    printf '{"PutRequest": {"Item": {"author": {"S": "le guin"}, "title": {"S": "book %02d"}, "year": {"N": "%d"}}}},' "$n" "$((1960 + n))"
done)
expect unprocessed "$(ddb batch-write-item --request-items "{\"$table\": [${puts%,}]}" --query 'length(keys(UnprocessedItems))' \
    --output text)" 0
ddb put-item --table-name "$table" --item '{"author": {"S": "austen"}, "title": {"S": "emma"}, "year": {"N": "1815"}}' \
    --condition-expression 'attribute_not_exists(author)'
if ddb put-item --table-name "$table" --item '{"author": {"S": "austen"}, "title": {"S": "emma"}}' \
    --condition-expression 'attribute_not_exists(author)' 2>"$err"; then
    echo "a failed condition wrote" >&2; exit 1
fi
grep -q ConditionalCheckFailedException "$err"
expect get "$(ddb get-item --table-name "$table" --key '{"author": {"S": "austen"}, "title": {"S": "emma"}}' \
    --query Item.year.N --output text)" 1815
ddb update-item --table-name "$table" --key '{"author": {"S": "austen"}, "title": {"S": "emma"}}' \
    --update-expression 'SET #y = #y + :one' --expression-attribute-names '{"#y": "year"}' \
    --expression-attribute-values '{":one": {"N": "1"}}' >/dev/null
expect update "$(ddb get-item --table-name "$table" --key '{"author": {"S": "austen"}, "title": {"S": "emma"}}' \
    --consistent-read --query Item.year.N --output text)" 1816
echo "items, conditions: ok"

# The CLI pages for you: --page-size sets Limit, --max-items cuts and hands back a NextToken
# (the JSON output sums Count over the pages; text output would print each page's).
expect query "$(ddb query --table-name "$table" --key-condition-expression 'author = :a' \
    --expression-attribute-values '{":a": {"S": "le guin"}}' --page-size 5 --query Count --output json)" 12
page=$(ddb scan --table-name "$table" --max-items 5 --output json)
token=$(python -c 'import json,sys; print(json.load(sys.stdin)["NextToken"])' <<<"$page")
expect first-page "$(python -c 'import json,sys; print(len(json.load(sys.stdin)["Items"]))' <<<"$page")" 5
rest=$(ddb scan --table-name "$table" --starting-token "$token" --max-items 100 --output json)
expect rest "$(python -c 'import json,sys; d=json.load(sys.stdin); print(len(d["Items"]), "NextToken" in d)' <<<"$rest")" "8 False"
table_out=$(ddb scan --table-name "$table" --filter-expression '#y < :y' --expression-attribute-names '{"#y": "year"}' \
    --expression-attribute-values '{":y": {"N": "1900"}}' --output table)
grep -q '|  *Scan  *|' <<<"$table_out"
grep -q 'emma' <<<"$table_out"
echo "paging, --output table: ok"

ddb transact-write-items --transact-items "[
  {\"Put\": {\"TableName\": \"$table\", \"Item\": {\"author\": {\"S\": \"woolf\"}, \"title\": {\"S\": \"orlando\"}}}},
  {\"Delete\": {\"TableName\": \"$table\", \"Key\": {\"author\": {\"S\": \"austen\"}, \"title\": {\"S\": \"emma\"}}}}]"
expect transact "$(ddb transact-get-items --transact-items "[
  {\"Get\": {\"TableName\": \"$table\", \"Key\": {\"author\": {\"S\": \"woolf\"}, \"title\": {\"S\": \"orlando\"}}}},
  {\"Get\": {\"TableName\": \"$table\", \"Key\": {\"author\": {\"S\": \"austen\"}, \"title\": {\"S\": \"emma\"}}}}]" \
    --query 'length(Responses[?Item])' --output text)" 1
ddb delete-table --table-name "$table" >/dev/null
ddb wait table-not-exists --table-name "$table"
echo "transactions, delete table: ok"

dlq=$(sqs create-queue --queue-name "cli-dlq-$run" --query QueueUrl --output text)
dlq_arn=$(sqs get-queue-attributes --queue-url "$dlq" --attribute-names QueueArn --query Attributes.QueueArn --output text)
queue=$(sqs create-queue --queue-name "cli-jobs-$run" --attributes \
    "{\"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\": \\\"$dlq_arn\\\", \\\"maxReceiveCount\\\": 1}\"}" \
    --query QueueUrl --output text)
expect empty "$(sqs receive-message --queue-url "$queue" --output json)" ""
sqs send-message --queue-url "$queue" --message-body 'resize photo 7' \
    --message-attributes '{"kind": {"DataType": "String", "StringValue": "resize"}}' >/dev/null
handle=$(sqs receive-message --queue-url "$queue" --message-attribute-names All --query 'Messages[0].ReceiptHandle' --output text)
sqs change-message-visibility --queue-url "$queue" --receipt-handle "$handle" --visibility-timeout 0
expect dead-lettered "$(sqs receive-message --queue-url "$queue" --query 'length(Messages || `[]`)' --output text)" 0
expect in-dlq "$(sqs receive-message --queue-url "$dlq" --visibility-timeout 0 --query 'Messages[0].Body' --output text)" "resize photo 7"
sqs start-message-move-task --source-arn "$dlq_arn" >/dev/null
for _ in $(seq 50); do
    status=$(sqs list-message-move-tasks --source-arn "$dlq_arn" --query 'Results[0].Status' --output text)
    [[ $status == COMPLETED ]] && break
    sleep 0.1
done
expect move-task "$status" COMPLETED
expect redriven "$(sqs receive-message --queue-url "$queue" --wait-time-seconds 1 --query 'Messages[0].Body' --output text)" "resize photo 7"
echo "sqs, dead-letter queue, move task: ok"

fifo=$(sqs create-queue --queue-name "cli-orders-$run.fifo" \
    --attributes FifoQueue=true,ContentBasedDeduplication=true --query QueueUrl --output text)
for body in one two one; do
    sqs send-message --queue-url "$fifo" --message-body "$body" --message-group-id g >/dev/null
done
expect fifo "$(sqs receive-message --queue-url "$fifo" --max-number-of-messages 10 --query 'Messages[].Body' --output text)" \
    "$(printf 'one\ttwo')"
sqs send-message-batch --queue-url "$queue" --entries Id=a,MessageBody=x Id=b,MessageBody=y --query 'length(Successful)' --output text >/dev/null
sqs purge-queue --queue-url "$queue"
expect listed "$(sqs list-queues --queue-name-prefix "cli-" --query "length(QueueUrls[?contains(@, '$run')])" --output text)" 3
for url in "$queue" "$dlq" "$fifo"; do sqs delete-queue --queue-url "$url"; done
if sqs get-queue-url --queue-name "cli-jobs-$run" 2>"$err"; then echo "deleted queue found" >&2; exit 1; fi
grep -q 'NonExistentQueue\|QueueDoesNotExist' "$err"
echo "fifo, batch, purge, delete: ok"
