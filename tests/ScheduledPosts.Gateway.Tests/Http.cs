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

    public static async Task<EchoedRequest> EchoAsync(this HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<EchoedRequest>() ?? throw new InvalidOperationException("Empty echo.");
    }
}
