using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>Workspaces made through the gateway's admin API, and what the tests check on every error response.</summary>
public static class ApiClients
{
    /// <summary>A new workspace; returns a client authenticated with its first owner key.</summary>
    public static async Task<HttpClient> NewWorkspaceAsync(this Stack stack, string name)
    {
        using var admin = stack.NewGatewayClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Stack.AdminToken);
        var response = await admin.PostAsJsonAsync("/admin/workspaces", new { name = $"{name}-{Guid.NewGuid():N}" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var created = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return stack.ClientWithKey(created["ownerKey"]!["secret"]!.GetValue<string>());
    }

    public static HttpClient ClientWithKey(this Stack stack, string key)
    {
        var client = stack.NewGatewayClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public static async Task<JsonObject> CreatedAsync(this HttpClient client, string path, object body)
    {
        var response = await client.PostAsJsonAsync(path, body);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public static async Task<JsonObject> OkAsync(this HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <summary>The tags the gateway's <c>/openapi.json</c> gives the operation <paramref name="method"/> <paramref name="path"/>.</summary>
    public static async Task<string[]> OpenApiTagsAsync(this Stack stack, string path, string method)
    {
        var document = JsonNode.Parse(await stack.Gateway.GetStringAsync("/openapi.json"))!;
        return [.. document["paths"]![path]![method]!["tags"]!.AsArray().Select(t => t!.GetValue<string>())];
    }

    public static async Task<List<string>> ListIdsAsync(this HttpClient client, string path)
        => [.. (await client.OkAsync(path))["data"]!.AsArray().Select(item => item!["id"]!.GetValue<string>())];

    /// <summary>
    /// The envelope of docs/api.md#errors: a JSON body {"error": {code, message, requestId}} whose requestId is the response's
    /// X-Request-Id. Returns the code; describes the response in the failure message otherwise.
    /// </summary>
    public static async Task<string> EnvelopeCodeAsync(this HttpResponseMessage response, string what)
    {
        string body = await response.Content.ReadAsStringAsync();
        string describe = $"{what} -> {(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}";
        Assert.True(response.Headers.TryGetValues("X-Request-Id", out var ids), $"no X-Request-Id: {describe}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/json", $"not JSON: {describe}");
        JsonElement error;
        try
        {
            error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new Xunit.Sdk.XunitException($"not the error envelope: {describe}");
        }

        Assert.True(error.GetProperty("requestId").GetString() == ids!.Single(), $"requestId differs from X-Request-Id: {describe}");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()), describe);
        return error.GetProperty("code").GetString()!;
    }
}
