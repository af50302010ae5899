using System.Text.Json.Nodes;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Issue 21: the check every end-to-end answer goes through (<see cref="OpenApiContract"/>) does catch an answer that
/// drifts from the document — a real answer passes, the same answer without a required field does not.
/// </summary>
public sealed class ContractCheckTests(Stack stack) : IClassFixture<Stack>
{
    [Fact]
    public async Task A_real_answer_passes_and_the_same_answer_without_a_required_field_does_not()
    {
        string account = await stack.ConnectSandboxAccountAsync("contract");
        var post = await stack.CreatePostAsync("Checked against the document", account, DateTimeOffset.UtcNow.AddHours(1));
        string id = post["id"]!.GetValue<string>();
        string body = await stack.Gateway.GetStringAsync($"/v1/posts/{id}");

        Assert.Null(stack.Contract.Problem("GET", $"/v1/posts/{id}", 200, "application/json", body));

        var withoutStatus = JsonNode.Parse(body)!.AsObject();
        withoutStatus.Remove("status");
        string? problem = stack.Contract.Problem("GET", $"/v1/posts/{id}", 200, "application/json", withoutStatus.ToJsonString());
        Assert.NotNull(problem);
        Assert.Contains("status", problem, StringComparison.Ordinal);

        var wrongType = JsonNode.Parse(body)!.AsObject();
        wrongType["scheduleVersion"] = "three";
        Assert.NotNull(stack.Contract.Problem("GET", $"/v1/posts/{id}", 200, "application/json", wrongType.ToJsonString()));
    }

    [Fact]
    public void An_answer_on_a_path_or_with_a_status_the_document_does_not_describe_is_a_mismatch()
    {
        Assert.NotNull(stack.Contract.Problem("GET", "/v1/undocumented", 200, "application/json", "{}"));
        Assert.NotNull(stack.Contract.Problem("GET", "/v1/posts/post_1", 418, "application/json", "{}"));
        Assert.NotNull(stack.Contract.Problem("GET", "/v1/posts/post_1", 200, "text/plain", "hello"));
    }
}
