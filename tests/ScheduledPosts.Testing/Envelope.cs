using System.Net;
using System.Text.Json;
using Xunit;

namespace ScheduledPosts.Testing;

/// <summary>Assertions on the error envelope every service and the gateway answer with.</summary>
public static class Envelope
{
    public static string RequestId(this HttpResponseMessage response) => response.Headers.GetValues("X-Request-Id").Single();

    /// <summary>Asserts the documented envelope (docs/api.md, Errors): the status, the code, a message, and the response's own request id.</summary>
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
}
