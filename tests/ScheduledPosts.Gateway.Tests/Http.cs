using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace ScheduledPosts.Gateway.Tests;

public static class Http
{
    public static HttpRequestMessage Request(HttpMethod method, string path, string? bearer = null, string? apiKey = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (bearer is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }

        return request;
    }

    public static async Task<HttpResponseMessage> SendAsync(this HttpClient client, HttpMethod method, string path,
        string? bearer = null, string? apiKey = null, string? requestId = null)
    {
        using var request = Request(method, path, bearer, apiKey);
        if (requestId is not null)
        {
            request.Headers.Add("X-Request-Id", requestId);
        }

        return await client.SendAsync(request);
    }

    public static string RequestId(this HttpResponseMessage response) => response.Headers.GetValues("X-Request-Id").Single();

    /// <summary>Asserts the SPEC §3 envelope: the status, the code, a message, and the response's own request id.</summary>
    public static async Task<JsonElement> AssertEnvelopeAsync(this HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = document.RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(response.RequestId(), error.GetProperty("requestId").GetString());
        return error.Clone();
    }

    public static async Task<EchoedRequest> EchoAsync(this HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<EchoedRequest>() ?? throw new InvalidOperationException("Empty echo.");
    }
}
